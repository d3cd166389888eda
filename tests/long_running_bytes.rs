//! The run's own stream is lossless and byte-exact: `RunStream::next_chunk`
//! returns exactly what the child wrote, and a slow owner holds the child
//! back (back-pressure) instead of losing lines.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use taskorch::output::OutputChunk;
use taskorch::{RunStream, StreamKind, Task};

use crate::common::*;

/// The next chunk, bounded so a bug fails the test instead of hanging it.
async fn next_chunk(stream: &mut RunStream) -> Option<OutputChunk> {
    tokio::time::timeout(Duration::from_secs(30), stream.next_chunk())
        .await
        .expect("a chunk or the end within 30 s")
}

fn digest(bytes: &[u8]) -> (usize, u64) {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    (bytes.len(), h.finish())
}

/// Bytes no line API would keep as they are: `\r\n`, a lone `\r`, invalid
/// UTF-8, a character cut by nothing but a read boundary, NULs, and a
/// 5 MiB last line without a newline.
fn awkward_bytes(seed: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"dos line\r\nbare cr\rend\n\xff\xfe invalid \xc3\n");
    bytes.extend_from_slice(&[0, 0, b'n', b'u', 0, b'l', b'\n', b'\r', b'\r', b'\n']);
    bytes.extend_from_slice("é€😀\n".as_bytes());
    bytes.extend((0..5usize << 20).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    bytes
}

#[tokio::test]
async fn chunks_are_exactly_the_bytes_the_child_wrote_per_stream() {
    let rt = start_runtime().await;
    let dir = tempfile::tempdir().unwrap();
    let (out_file, err_file) = (dir.path().join("out"), dir.path().join("err"));
    let (out, err) = (awkward_bytes(1), awkward_bytes(7));
    std::fs::write(&out_file, &out).unwrap();
    std::fs::write(&err_file, &err).unwrap();
    let script = format!(
        "cat {o} & cat {e} >&2; wait",
        o = out_file.display(),
        e = err_file.display()
    );
    let mut stream = rt.stream(Task::shell(script)).await.unwrap();
    let (mut got_out, mut got_err) = (Vec::new(), Vec::new());
    while let Some(chunk) = next_chunk(&mut stream).await {
        assert!(!chunk.bytes.is_empty(), "no empty chunks");
        match chunk.stream {
            StreamKind::Stdout => got_out.extend_from_slice(&chunk.bytes),
            StreamKind::Stderr => got_err.extend_from_slice(&chunk.bytes),
        }
    }
    assert_eq!(digest(&got_out), digest(&out), "stdout differs");
    assert_eq!(digest(&got_err), digest(&err), "stderr differs");
    let output = stream.wait().await.unwrap();
    assert!(output.success());
    // The capture for the result stays bounded and says it was cut.
    assert!(output.stdout_truncated);
    assert_eq!(
        output.stdout.len() as u64 + output.stdout_dropped,
        out.len() as u64
    );
}

/// The most the owner's queue may hold (see `RunStream::peak_queued_bytes`).
fn bound() -> usize {
    use taskorch_actors::lines::{OWNER_ENDING_ALLOWANCE, OWNER_QUEUE_BYTES};
    OWNER_QUEUE_BYTES + (64 << 10) + OWNER_ENDING_ALLOWANCE
}

/// How many lines `seq` writes in the regression test: ~14 MB, more than
/// 50 times the owner's queue and 3 times the ring.
const LINES: u64 = 2_000_000;

/// Read every line of `seq 1 <lines>` slowly, checking each; returns the
/// stream for the caller's checks.
async fn read_seq_slowly(rt: &Runtime, lines: u64) -> RunStream {
    let mut stream = rt
        .stream(Task::command("seq").arg("1").arg(lines.to_string()))
        .await
        .unwrap();
    let mut expected = 1u64;
    let mut text = String::new();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), stream.next_line())
            .await
            .expect("a line or the end within 30 s");
        let Some(line) = line else { break };
        text.clear();
        use std::fmt::Write;
        write!(text, "{expected}").unwrap();
        assert_eq!(line.text, text, "line {expected} missing or out of order");
        assert_eq!(line.seq, expected - 1, "seq of line {expected}");
        expected += 1;
        // A slow reader: it stops now and then for longer than the child
        // needs to fill every buffer between them.
        if expected.is_multiple_of(100_000) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(expected - 1, lines, "every line arrived");
    assert_eq!(stream.missed(), 0);
    stream
}

#[tokio::test]
async fn a_slow_owner_gets_every_line_in_order_and_memory_stays_bounded() {
    let rt = start_runtime().await;
    let stream = read_seq_slowly(&rt, LINES).await;
    let id = stream.run_id();
    let peak = stream.peak_queued_bytes();
    // Bounded: the queue never held more than its cap plus one read (and
    // the pipes' rest at the end), and it was full at some point, so the
    // child was held back, not buffered.
    assert!(peak <= bound(), "peak {peak}");
    assert!(
        peak >= taskorch_actors::lines::OWNER_QUEUE_BYTES,
        "peak {peak}"
    );
    assert!(stream.wait().await.unwrap().success());
    // The ring stayed bounded meanwhile: it dropped what the owner still got.
    let captured = rt.output(id).unwrap();
    assert_eq!(captured.dropped + captured.lines.len() as u64, LINES);
    assert!(captured.dropped > 0);
    let ring_text: usize = captured.lines.iter().map(|l| l.text.len()).sum();
    assert!(captured.lines.len() <= taskorch_actors::lines::DEFAULT_RING_LINES);
    assert!(ring_text <= taskorch_actors::lines::DEFAULT_RING_BYTES);
}

/// The same with about 1 GiB of lines (120 million). Slow in a debug build:
/// `cargo test --release --test tests long_running_bytes::a_slow_owner_of_a_gib -- --ignored`
#[tokio::test]
#[ignore = "about 1 GiB of output; run by hand in a release build"]
async fn a_slow_owner_of_a_gib_of_lines_gets_every_line() {
    let rt = start_runtime().await;
    let stream = read_seq_slowly(&rt, 120_000_000).await;
    assert!(stream.peak_queued_bytes() <= bound());
    assert!(stream.wait().await.unwrap().success());
}

#[tokio::test]
async fn an_owner_that_does_not_read_holds_the_child_until_it_lets_go() {
    let rt = start_runtime().await;
    let stream = rt
        .stream(Task::command("seq").arg("1000000"))
        .await
        .unwrap();
    let id = stream.run_id();
    // Unread, the queue fills and the child blocks on its pipe.
    assert!(
        wait_until(Duration::from_secs(10), || stream.queued_bytes()
            >= taskorch_actors::lines::OWNER_QUEUE_BYTES)
        .await
    );
    assert!(!rt.status(id).unwrap().is_terminal());
    // Let go: the run goes on into the ring alone and finishes.
    drop(stream);
    let out = tokio::time::timeout(Duration::from_secs(30), rt.wait(id))
        .await
        .expect("a dropped owner never holds the child")
        .unwrap();
    assert!(out.success());
}

#[tokio::test]
async fn the_end_of_a_run_never_waits_for_the_owner_and_loses_nothing() {
    let rt = start_runtime().await;
    // More than the owner's queue, less than the queue plus one pipe: the
    // child can write it all and exit while the owner reads nothing.
    let total = taskorch_actors::lines::OWNER_QUEUE_BYTES + 40_000;
    let mut stream = rt
        .stream(Task::shell(format!("head -c {total} /dev/zero")))
        .await
        .unwrap();
    let id = stream.run_id();
    let out = tokio::time::timeout(Duration::from_secs(10), rt.wait(id))
        .await
        .expect("the run ends without its owner reading")
        .unwrap();
    assert!(out.success());
    let mut got = 0;
    while let Some(chunk) = next_chunk(&mut stream).await {
        got += chunk.bytes.len();
    }
    assert_eq!(got, total, "the pipe's rest was queued, not abandoned");
}

#[tokio::test]
async fn a_time_out_or_cancel_ends_a_run_whose_owner_never_reads() {
    let rt = start_runtime().await;
    let stream = rt
        .stream(Task::command("yes").timeout(Duration::from_millis(300)))
        .await
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(10), rt.wait(stream.run_id()))
        .await
        .expect("a blocked child still times out")
        .unwrap_err();
    assert!(matches!(err, taskorch::Error::TimedOut { .. }), "{err:?}");

    let stream = rt.stream(Task::command("yes")).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || stream.queued_bytes()
            >= taskorch_actors::lines::OWNER_QUEUE_BYTES)
        .await
    );
    stream.cancel();
    let err = tokio::time::timeout(Duration::from_secs(10), rt.wait(stream.run_id()))
        .await
        .expect("a blocked child is still cancelled")
        .unwrap_err();
    assert!(matches!(err, taskorch::Error::Cancelled { .. }), "{err:?}");
}

#[tokio::test]
async fn each_chunk_names_the_attempt_that_wrote_it() {
    let rt = start_runtime().await;
    let task = Task::shell("echo \"try $TASKORCH_RUN_ID\"; exit 1")
        .retries(1)
        .backoff(taskorch::Backoff::fixed(Duration::from_millis(1)));
    let mut stream = rt.stream(task).await.unwrap();
    let id = stream.run_id();
    let mut attempts = Vec::new();
    while let Some(chunk) = next_chunk(&mut stream).await {
        assert_eq!(chunk.bytes, format!("try {id}\n").into_bytes());
        attempts.push(chunk.attempt);
    }
    assert_eq!(attempts, [1, 2]);
    let out = stream.wait().await.unwrap();
    assert_eq!((out.attempts, out.exit_code), (2, Some(1)));
}
