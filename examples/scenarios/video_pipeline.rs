//! The video pipeline scenario: probe every input concurrently, launch a
//! thumbnail for each in the background, transcode each one with live
//! progress, verify the result, then collect the thumbnails.
//!
//! Every stage goes through `Orchestrator::execute` with the options that
//! describe it, and the orchestrator picks the pattern: a batch runs
//! Concurrent, `wait(false)` runs FireAndForget, `streaming(true)` runs
//! LongRunning, a plain request runs Simple.
//!
//! With `ffmpeg` and `ffprobe` on `PATH` the stages run them. Without them
//! (a stock Linux) the same stages run stand-ins built from `sh`, `dd`,
//! `gzip`, `sha256sum` and `head`, with the same shape: a probe that prints
//! key=value facts, a transcode that writes its output chunk by chunk and
//! reports progress on stdout the way `ffmpeg -progress pipe:1` does, and a
//! "thumbnail" that is the first 4 KiB of the file.
//!
//! Shared by `examples/video_pipeline.rs` and the integration test
//! (`tests/scenarios.rs`).

use std::path::{Path, PathBuf};

use taskorch::{Error, Execution, Orchestrator, Pattern, Request, RunId, RunStatus, Task};

// Declared beside this module by whoever includes it (the example, the
// test), so the test binary holds one copy for all three scenarios.
use super::failure::{Failure, Result};

/// The tools the stages run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tools {
    /// `ffmpeg` and `ffprobe`.
    Ffmpeg,
    /// `dd`, `gzip`, `sha256sum`, `head` (ffmpeg is not installed).
    StandIn,
}

/// What the pipeline works on.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The input files.
    pub inputs: Vec<PathBuf>,
    /// Where outputs and thumbnails go.
    pub out_dir: PathBuf,
    /// Probes running at once.
    pub probe_limit: usize,
    /// Stand-in transcode: bytes per chunk (one progress line each).
    pub chunk_bytes: u64,
}

/// What the probe found about one input.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Size in bytes.
    pub bytes: u64,
    /// sha256 of the content (stand-in), or the duration in seconds (ffmpeg).
    pub fingerprint: String,
}

/// What happened to one input.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The input.
    pub input: PathBuf,
    /// What the probe found.
    pub probe: Probe,
    /// The transcoded file.
    pub output: PathBuf,
    /// Its size in bytes.
    pub output_bytes: u64,
    /// Progress percentages as they were streamed, in order.
    pub progress: Vec<u32>,
    /// The output checked out (decompresses to the probed sha256, or
    /// ffprobe reads a duration from it).
    pub verified: bool,
    /// The thumbnail file.
    pub thumbnail: PathBuf,
    /// The thumbnail's background run.
    pub thumbnail_run: RunId,
    /// How the thumbnail run ended.
    pub thumbnail_status: Option<RunStatus>,
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Which tools ran.
    pub tools: Tools,
    /// Each stage and the pattern `execute` picked for it.
    pub stages: Vec<(&'static str, Pattern)>,
    /// One entry per input, in input order.
    pub files: Vec<FileReport>,
}

/// Whether `ffmpeg` and `ffprobe` can run here (a Simple run of each;
/// `NotFound` means no).
pub async fn detect_tools(orch: &Orchestrator) -> Result<Tools> {
    for program in ["ffmpeg", "ffprobe"] {
        let version = Request::new(Task::command(program).arg("-version"));
        match orch.execute(version).await {
            Ok(Execution::Completed(out)) if out.success() => {}
            Ok(_) | Err(Error::NotFound { .. }) | Err(Error::PermissionDenied { .. }) => {
                return Ok(Tools::StandIn);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Tools::Ffmpeg)
}

/// Make `count` sample inputs of about `bytes` each in `dir`: random bytes
/// from `dd` (stand-in), or a few seconds of ffmpeg's test pattern. Runs
/// them as one batch.
pub async fn make_samples(
    orch: &Orchestrator,
    tools: Tools,
    dir: &Path,
    count: usize,
    bytes: u64,
) -> Result<Vec<PathBuf>> {
    let paths: Vec<PathBuf> = (1..=count)
        .map(|i| match tools {
            Tools::StandIn => dir.join(format!("clip-{i}.raw")),
            Tools::Ffmpeg => dir.join(format!("clip-{i}.mp4")),
        })
        .collect();
    let tasks = paths
        .iter()
        .map(|path| match tools {
            Tools::StandIn => Task::command("dd").args([
                "if=/dev/urandom".to_string(),
                format!("of={}", path.display()),
                "bs=4096".to_string(),
                format!("count={}", bytes.div_ceil(4096).max(1)),
                "status=none".to_string(),
            ]),
            Tools::Ffmpeg => Task::command("ffmpeg").args([
                "-y".to_string(),
                "-loglevel".to_string(),
                "error".to_string(),
                "-f".to_string(),
                "lavfi".to_string(),
                "-i".to_string(),
                "testsrc=duration=3:size=320x240:rate=25".to_string(),
                path.display().to_string(),
            ]),
        })
        .collect();
    for result in batch(orch, tasks, 4).await? {
        let out = result?;
        if !out.success() {
            return Err(Failure::step("making a sample input", &out));
        }
    }
    Ok(paths)
}

/// Run the pipeline over `settings.inputs`; `say` gets a line for each
/// step as it happens (progress included).
pub async fn run(
    orch: &Orchestrator,
    tools: Tools,
    settings: &Settings,
    say: &(dyn Fn(String) + Sync),
) -> Result<Report> {
    let mut stages = Vec::new();
    if tools == Tools::StandIn {
        say("ffmpeg is not installed: dd, gzip, sha256sum and head stand in for it".into());
    }

    // 1. Probe every input at once (Concurrent).
    let probes: Vec<Task> = settings
        .inputs
        .iter()
        .map(|f| probe_task(tools, f))
        .collect();
    let request = Request::batch_of(probes, settings.probe_limit);
    stages.push(("probe", Pattern::select(&request)));
    let results = match orch.execute(request).await? {
        Execution::Batch(results) => results,
        other => return Err(Failure::unexpected("probing", other)),
    };
    let mut probed = Vec::new();
    for (input, result) in settings.inputs.iter().zip(results) {
        let out = result?;
        if !out.success() {
            return Err(Failure::step(format!("probing {}", input.display()), &out));
        }
        let probe = parse_probe(tools, &out.stdout_str());
        say(format!(
            "probed {}: {} bytes, {}",
            file_name(input),
            probe.bytes,
            probe.fingerprint
        ));
        probed.push(probe);
    }

    // 2. Thumbnails in the background (FireAndForget): nobody waits now.
    let mut thumbnails: Vec<(PathBuf, RunId)> = Vec::new();
    for input in &settings.inputs {
        let thumb = settings.out_dir.join(format!("{}.thumb", stem(input)));
        let request = Request::new(thumbnail_task(tools, input, &thumb)).wait(false);
        if thumbnails.is_empty() {
            stages.push(("thumbnail", Pattern::select(&request)));
        }
        let id = match orch.execute(request).await? {
            Execution::Launched(id) => id,
            other => return Err(Failure::unexpected("launching a thumbnail", other)),
        };
        say(format!(
            "thumbnail of {} launched as run {id}",
            file_name(input)
        ));
        thumbnails.push((thumb, id));
    }

    // 3. Transcode one by one, progress shown live (LongRunning), and
    // 4. verify each result (Simple).
    let mut files = Vec::new();
    for ((input, probe), (thumbnail, thumb_id)) in
        settings.inputs.iter().zip(probed).zip(thumbnails)
    {
        let output = settings.out_dir.join(match tools {
            Tools::StandIn => format!("{}.gz", stem(input)),
            Tools::Ffmpeg => format!("{}.x264.mp4", stem(input)),
        });
        let task = transcode_task(tools, input, &output, settings.chunk_bytes);
        let request = Request::new(task).streaming(true);
        if files.is_empty() {
            stages.push(("transcode", Pattern::select(&request)));
        }
        let mut stream = match orch.execute(request).await? {
            Execution::Streaming(stream) => stream,
            other => return Err(Failure::unexpected("starting a transcode", other)),
        };
        let mut progress = Vec::new();
        while let Some(line) = stream.next_line().await {
            let Some(percent) = parse_progress(&line.text, &probe) else {
                continue;
            };
            // `progress=end` repeats the 100 % of the last chunk.
            if progress.last() != Some(&percent) {
                say(format!("transcoding {}: {percent:>3}%", file_name(input)));
                progress.push(percent);
            }
        }
        let out = stream.wait().await?;
        if !out.success() {
            return Err(Failure::step(
                format!("transcoding {}", input.display()),
                &out,
            ));
        }
        let output_bytes = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);

        let request = Request::new(verify_task(tools, &output));
        if files.is_empty() {
            stages.push(("verify", Pattern::select(&request)));
        }
        let check = match orch.execute(request).await? {
            Execution::Completed(check) => check,
            other => return Err(Failure::unexpected("verifying", other)),
        };
        let verified = check.success()
            && match tools {
                Tools::StandIn => {
                    check.stdout_str().split_whitespace().next() == Some(probe.fingerprint.as_str())
                }
                Tools::Ffmpeg => !check.stdout_str().trim().is_empty(),
            };
        say(format!(
            "transcoded {} -> {} ({output_bytes} bytes), {}",
            file_name(input),
            file_name(&output),
            if verified {
                "verified"
            } else {
                "VERIFICATION FAILED"
            }
        ));
        files.push(FileReport {
            input: input.clone(),
            probe,
            output,
            output_bytes,
            progress,
            verified,
            thumbnail,
            thumbnail_run: thumb_id,
            thumbnail_status: None,
        });
    }

    // 5. Collect the thumbnails launched at the start.
    for file in &mut files {
        let ended = orch.wait(file.thumbnail_run).await?;
        file.thumbnail_status = orch.status(file.thumbnail_run);
        if !ended.success() {
            return Err(Failure::step(
                format!("thumbnail of {}", file.input.display()),
                &ended,
            ));
        }
        say(format!("thumbnail {}: done", file_name(&file.thumbnail)));
    }
    Ok(Report {
        tools,
        stages,
        files,
    })
}

async fn batch(
    orch: &Orchestrator,
    tasks: Vec<Task>,
    limit: usize,
) -> Result<Vec<taskorch::Result<taskorch::Output>>> {
    match orch.execute(Request::batch_of(tasks, limit)).await? {
        Execution::Batch(results) => Ok(results),
        other => Err(Failure::unexpected("running a batch", other)),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into())
}

fn thumb_name(input: &Path) -> String {
    format!("thumbnail {}", stem(input))
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

/// `sh -c script name args...`: the script reads its arguments as `$1`..,
/// so paths are never spliced into shell text.
fn sh(script: &str, args: &[String]) -> Task {
    Task::command("sh")
        .args(["-c", script, "sh"])
        .args(args.iter().cloned())
}

fn probe_task(tools: Tools, input: &Path) -> Task {
    let name = format!("probe {}", stem(input));
    match tools {
        Tools::StandIn => sh(
            r#"printf 'size=%s\n' "$(wc -c < "$1")" && sha256sum "$1""#,
            &[path_arg(input)],
        ),
        Tools::Ffmpeg => Task::command("ffprobe").args([
            "-v".to_string(),
            "error".to_string(),
            "-show_entries".to_string(),
            "format=duration,size".to_string(),
            "-of".to_string(),
            "default=noprint_wrappers=1".to_string(),
            path_arg(input),
        ]),
    }
    .name(name)
}

fn parse_probe(tools: Tools, stdout: &str) -> Probe {
    let mut probe = Probe {
        bytes: 0,
        fingerprint: String::new(),
    };
    for line in stdout.lines() {
        if let Some(size) = line.strip_prefix("size=") {
            probe.bytes = size.trim().parse().unwrap_or(0);
        } else if let Some(duration) = line.strip_prefix("duration=") {
            probe.fingerprint = format!("{}s", duration.trim());
        } else if tools == Tools::StandIn {
            // `sha256sum` prints "<hash>  <file>".
            if let Some(hash) = line.split_whitespace().next() {
                probe.fingerprint = hash.to_string();
            }
        }
    }
    probe
}

fn thumbnail_task(tools: Tools, input: &Path, thumb: &Path) -> Task {
    match tools {
        Tools::StandIn => sh(
            r#"head -c 4096 "$1" > "$2""#,
            &[path_arg(input), path_arg(thumb)],
        ),
        Tools::Ffmpeg => Task::command("ffmpeg").args([
            "-y".to_string(),
            "-loglevel".to_string(),
            "error".to_string(),
            "-ss".to_string(),
            "1".to_string(),
            "-i".to_string(),
            path_arg(input),
            "-frames:v".to_string(),
            "1".to_string(),
            "-f".to_string(),
            "image2".to_string(),
            path_arg(thumb),
        ]),
    }
    .name(thumb_name(input))
}

/// The stand-in transcode: compress the input chunk by chunk and print
/// progress the way `ffmpeg -progress pipe:1` does (key=value lines,
/// `progress=end` at the end). Concatenated gzip members are one valid
/// gzip stream.
const STAND_IN_TRANSCODE: &str = r#"
size=$(wc -c < "$1")
chunks=$(( (size + $3 - 1) / $3 ))
[ "$chunks" -gt 0 ] || chunks=1
: > "$2"
i=0
while [ "$i" -lt "$chunks" ]; do
  dd if="$1" bs="$3" skip="$i" count=1 status=none | gzip -c >> "$2"
  i=$((i + 1))
  echo "chunk=$i/$chunks"
  echo "progress=continue"
done
echo "progress=end"
"#;

fn transcode_task(tools: Tools, input: &Path, output: &Path, chunk_bytes: u64) -> Task {
    match tools {
        Tools::StandIn => sh(
            STAND_IN_TRANSCODE,
            &[
                path_arg(input),
                path_arg(output),
                chunk_bytes.max(1).to_string(),
            ],
        ),
        Tools::Ffmpeg => Task::command("ffmpeg").args([
            "-y".to_string(),
            "-loglevel".to_string(),
            "error".to_string(),
            "-nostats".to_string(),
            "-progress".to_string(),
            "pipe:1".to_string(),
            "-i".to_string(),
            path_arg(input),
            "-c:v".to_string(),
            "libx264".to_string(),
            "-preset".to_string(),
            "veryfast".to_string(),
            path_arg(output),
        ]),
    }
    .name(format!("transcode {}", stem(input)))
}

/// A progress percentage from one line of `-progress` output.
fn parse_progress(line: &str, probe: &Probe) -> Option<u32> {
    let (key, value) = line.split_once('=')?;
    match key {
        "chunk" => {
            let (done, total) = value.split_once('/')?;
            let (done, total): (u64, u64) = (done.parse().ok()?, total.parse().ok()?);
            Some((done * 100 / total.max(1)) as u32)
        }
        "out_time_us" => {
            let seconds: f64 = probe.fingerprint.trim_end_matches('s').parse().ok()?;
            let done: f64 = value.parse().ok()?;
            Some(((done / 1e6 / seconds) * 100.0).clamp(0.0, 100.0) as u32)
        }
        "progress" if value == "end" => Some(100),
        _ => None,
    }
}

fn verify_task(tools: Tools, output: &Path) -> Task {
    match tools {
        Tools::StandIn => sh(r#"gzip -dc "$1" | sha256sum"#, &[path_arg(output)]),
        Tools::Ffmpeg => Task::command("ffprobe").args([
            "-v".to_string(),
            "error".to_string(),
            "-show_entries".to_string(),
            "format=duration".to_string(),
            "-of".to_string(),
            "csv=p=0".to_string(),
            path_arg(output),
        ]),
    }
    .name(format!("verify {}", stem(output)))
}
