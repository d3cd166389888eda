//! `taskorch advise`: the [`Advisor`](crate::Advisor)'s recommendation for
//! a piece of work described by flags, and the explanation of the pattern.

use std::time::Duration;

use clap::Args as ClapArgs;
use serde::Serialize;

use crate::execution::Explanation;
use crate::{Advisor, Pattern, Recommendation, Requirements};

use super::{CliError, parse_duration, pipe};

const EXAMPLES: &str = "\
Examples:
  taskorch advise --duration 2h --streaming --tasks 1
  taskorch advise --duration 50ms --rate 200          (many small requests)
  taskorch advise --duration 5m --tasks 500 --json";

/// `taskorch advise`.
#[derive(Debug, ClapArgs)]
#[command(after_help = EXAMPLES)]
pub struct AdviseArgs {
    /// How long one unit of work takes (`200ms`, `30s`, `2h`).
    #[arg(long, value_parser = parse_duration, default_value = "1s", value_name = "D")]
    pub duration: Duration,
    /// Output must be watched while it runs.
    #[arg(long)]
    pub streaming: bool,
    /// Independent units of work.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub tasks: usize,
    /// Nobody waits for the result (exit code, output).
    #[arg(long)]
    pub no_result: bool,
    /// The work repeats on a schedule.
    #[arg(long)]
    pub recurring: bool,
    /// Requests per second, for request/response work.
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "PER_SECOND",
        allow_negative_numbers = true
    )]
    pub rate: f64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Advice<'a> {
    requirements: &'a Requirements,
    recommendation: &'a Recommendation,
    /// The text `Advisor::explain` gives (as before the parts existed).
    explanation: String,
    /// The same in parts, with benefits and an example.
    details: &'a Explanation,
}

/// `taskorch advise`.
pub(super) fn run(args: AdviseArgs) -> Result<i32, CliError> {
    if !args.rate.is_finite() || args.rate < 0.0 {
        return Err(CliError::Usage(format!(
            "--rate must be a number of requests per second, 0 or more, not {}",
            args.rate
        )));
    }
    let requirements = Requirements {
        expected_duration: args.duration,
        streaming: args.streaming,
        tasks: args.tasks,
        needs_result: !args.no_result,
        recurring: args.recurring,
        requests_per_second: args.rate,
    };
    let recommendation = Advisor::recommend(&requirements);
    let details = Advisor::explanation(recommendation.pattern);
    if args.json {
        let advice = Advice {
            requirements: &requirements,
            recommendation: &recommendation,
            explanation: details.to_string(),
            details: &details,
        };
        // Plain data; serializing it cannot fail.
        pipe::line(serde_json::to_string_pretty(&advice).unwrap_or_default())?;
        return Ok(0);
    }
    let mut text = format!(
        "recommended: {}\nwhy: {}\n",
        recommendation.pattern, recommendation.reason
    );
    for alt in &recommendation.alternatives {
        text.push_str(&format!("also consider {}: {}\n", alt.pattern, alt.reason));
    }
    text.push_str(&format!(
        "\n{}: {details}\nBenefits:\n",
        recommendation.pattern
    ));
    for benefit in &details.benefits {
        text.push_str(&format!("  - {benefit}\n"));
    }
    text.push_str("Example:\n");
    for line in details.example.lines() {
        text.push_str(&format!("  {line}\n"));
    }
    text.push_str(&format!("\nin taskorch: {}\n", how(recommendation.pattern)));
    pipe::write_stdout(text.as_bytes())?;
    Ok(0)
}

/// Where the pattern is in the tool and the library.
fn how(pattern: Pattern) -> &'static str {
    match pattern {
        Pattern::Simple => "`taskorch run -- CMD`; orch.run(task)",
        Pattern::LongRunning => "`taskorch stream -- CMD`; orch.stream(task)",
        Pattern::Concurrent => {
            "`taskorch batch FILE -j N`, [[task]] in a jobs file; orch.run_batch(tasks, n)"
        }
        Pattern::FireAndForget => "[[launch]] in a jobs file; orch.launch(task)",
        Pattern::Periodic => "[[schedule]] in a jobs file; orch.schedule(spec)",
        Pattern::Pooled => "[[pool]] in a jobs file; orch.pool(spec)",
    }
}
