//! A video pipeline run by automatic pattern selection: probe every input
//! concurrently, launch a thumbnail for each in the background, transcode
//! each with live progress, verify the outputs, collect the thumbnails.
//! Each stage is one `orch.execute(Request)`; the orchestrator picks
//! Concurrent, FireAndForget, LongRunning and Simple from the options.
//!
//! Uses `ffmpeg`/`ffprobe` when they are installed; otherwise `dd`, `gzip`,
//! `sha256sum` and `head` stand in for them (and the output says so). With
//! no arguments it makes three sample inputs in a temporary directory.
//!
//! ```text
//! cargo run --release --example video_pipeline [-- FILE...]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use taskorch::{Config, Orchestrator};

#[path = "scenarios/failure.rs"]
mod failure;
#[path = "scenarios/video_pipeline.rs"]
mod scenario;

use scenario::{Settings, Tools};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let orch = Orchestrator::start(Config::default()).await?;
    let work = tempfile::tempdir()?;
    let tools = scenario::detect_tools(&orch).await?;
    println!(
        "tools: {}",
        match tools {
            Tools::Ffmpeg => "ffmpeg + ffprobe",
            Tools::StandIn => "stand-ins (ffmpeg not found): dd, gzip, sha256sum, head",
        }
    );

    let mut inputs: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if inputs.is_empty() {
        inputs = scenario::make_samples(&orch, tools, work.path(), 3, 4 << 20).await?;
        println!(
            "made {} sample inputs in {}",
            inputs.len(),
            work.path().display()
        );
    }
    let settings = Settings {
        inputs,
        out_dir: work.path().to_path_buf(),
        probe_limit: 4,
        chunk_bytes: 512 << 10,
    };

    let started = Instant::now();
    let say = move |line: String| println!("[{:>6.2} s] {line}", started.elapsed().as_secs_f64());
    let report = scenario::run(&orch, tools, &settings, &say).await;
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            orch.shutdown().await?;
            return Err(e.into());
        }
    };

    println!(
        "\ntools: {:?}; stage and the pattern execute() picked:",
        report.tools
    );
    for (stage, pattern) in &report.stages {
        println!("{stage:<10} {pattern}");
    }
    println!(
        "\n{:<18} {:>12}  {:<18} {:>10} {:>15}  {:<8}  thumbnail",
        "input", "bytes", "output", "bytes", "progress lines", "verified"
    );
    let name = |p: &std::path::Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    for file in &report.files {
        println!(
            "{:<18} {:>12}  {:<18} {:>10} {:>15}  {:<8}  {:?}",
            name(&file.input),
            file.probe.bytes,
            name(&file.output),
            file.output_bytes,
            file.progress.len(),
            file.verified,
            file.thumbnail_status
        );
    }
    println!("done in {:.2} s", started.elapsed().as_secs_f64());
    orch.shutdown().await?;
    Ok(())
}
