//! Bounded capture of a child's stdout and stderr.
//!
//! Output is never unbounded in memory: each stream keeps at most its cap,
//! and everything past it is still *read* but discarded and counted. The
//! child blocks on a full pipe only while the run's owner (its
//! `RunStream`) is behind: that is the owner's back-pressure.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::lines::{LineLog, LineWriter};

/// Read size per `read` call: large enough that a chatty child costs few
/// wake-ups. Reads go straight into the capture's heap buffer, never into a
/// stack array: a buffer inside the future would make every run future
/// tens of kilobytes, copied on each move.
const CHUNK: usize = 16 * 1024;

/// The first read of a stream: enough for the typical short output.
const FIRST_READ: usize = 512;

/// Read size once the cap is reached: a whole Linux pipe buffer (64 KiB),
/// so a chatty child (a stream printing for hours) costs one read, one
/// line-ring push and one reader wake-up per pipe-full.
const PAST_CAP_READ: usize = 64 * 1024;

/// The captured bytes of one stream, with what did not fit.
#[derive(Debug, Default)]
pub(crate) struct BoundedCapture {
    bytes: Vec<u8>,
    cap: usize,
    dropped: u64,
}

impl BoundedCapture {
    pub(crate) fn new(cap: usize) -> Self {
        BoundedCapture {
            bytes: Vec::new(),
            cap,
            dropped: 0,
        }
    }

    /// Keep what fits, count the rest.
    #[cfg(test)]
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        let room = self.cap.saturating_sub(self.bytes.len());
        let keep = room.min(chunk.len());
        self.bytes.extend_from_slice(&chunk[..keep]);
        self.dropped += (chunk.len() - keep) as u64;
    }

    pub(crate) fn truncated(&self) -> bool {
        self.dropped > 0
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    pub(crate) fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

/// A file that gets a copy of every byte of one stream
/// (`Task::tee_output`).
///
/// Written with a plain blocking `write_all`: a file in the page cache
/// takes the bytes at memory speed, and a slow disk then holds the child
/// back exactly as a slow reader of its pipe would.
#[derive(Debug)]
pub(crate) struct Tee {
    file: Option<std::fs::File>,
    path: std::path::PathBuf,
}

impl Tee {
    pub(crate) fn new(file: std::fs::File, path: &std::path::Path) -> Self {
        Tee {
            file: Some(file),
            path: path.to_path_buf(),
        }
    }

    /// Copy `bytes`; a failed write (a full disk) stops this copy, loudly,
    /// and never the run.
    fn write(&mut self, bytes: &[u8]) {
        use std::io::Write;
        if let Some(file) = &mut self.file
            && let Err(e) = file.write_all(bytes)
        {
            tracing::warn!(
                target: "taskorch::process",
                path = %self.path.display(),
                error = %e,
                "writing the output's copy failed; the rest of it is not copied"
            );
            self.file = None;
        }
    }
}

/// Where the lines of one stream go, besides the byte capture: the run's
/// ring, through this stream's writer.
pub(crate) type LineTap<'a> = Option<(&'a LineLog, &'a mut LineWriter)>;

/// Read `reader` to end of file into `sink`, and every byte read (kept or
/// not) into `lines` and `tee`.
///
/// Errors end the capture quietly: a read error on a child's pipe means the
/// child is gone, which the exit status reports better. The writer keeps
/// an unfinished last line; the caller flushes it when the stream is over.
///
/// # Cancel safety
/// Cancel safe: everything read before cancellation is already in `sink`
/// and `lines`.
pub(crate) async fn drain<R: AsyncRead + Unpin>(
    reader: Option<R>,
    sink: &mut BoundedCapture,
    mut lines: LineTap<'_>,
    mut tee: Option<&mut Tee>,
) {
    let Some(mut reader) = reader else { return };
    // Before each read: while the run's owner is behind, the pipe is not
    // read, so the child blocks on it (see `lines::owner`).
    let log = lines.as_ref().map(|(log, _)| *log);
    let wait_room = || async {
        if let Some(log) = log {
            log.room().await;
        }
    };
    let mut tap = |bytes: &[u8]| {
        if let Some(tee) = tee.as_mut() {
            tee.write(bytes);
        }
        if let Some((log, writer)) = lines.as_mut() {
            log.append(writer, bytes);
        }
    };
    // Below the cap: read into the spare capacity of the kept bytes.
    while sink.bytes.len() < sink.cap {
        wait_room().await;
        let room = sink.cap - sink.bytes.len();
        // Grow with what the child actually writes: most runs print little,
        // and a large first reservation per stream per run costs more than
        // the run's own bookkeeping.
        let want = sink.bytes.len().clamp(FIRST_READ, CHUNK);
        sink.bytes.reserve(room.min(want));
        let before = sink.bytes.len();
        match (&mut reader)
            .take(room as u64)
            .read_buf(&mut sink.bytes)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => tap(&sink.bytes[before..]),
        }
    }
    // Past the cap: keep reading, count, discard.
    let mut scratch = vec![0u8; PAST_CAP_READ];
    loop {
        wait_room().await;
        match reader.read(&mut scratch).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                sink.dropped += n as u64;
                tap(&scratch[..n]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_up_to_the_cap_and_counts_the_rest() {
        let mut cap = BoundedCapture::new(5);
        cap.push(b"abc");
        assert!(!cap.truncated());
        cap.push(b"defgh");
        cap.push(b"ij");
        assert!(cap.truncated());
        assert_eq!(cap.dropped(), 5);
        assert_eq!(cap.take(), b"abcde");
    }

    #[tokio::test]
    async fn drains_a_reader_past_the_cap() {
        let data = vec![7u8; 100_000];
        let mut sink = BoundedCapture::new(1000);
        drain(Some(&data[..]), &mut sink, None, None).await;
        assert_eq!(sink.dropped(), 99_000);
        assert_eq!(sink.take().len(), 1000);
    }

    #[tokio::test]
    async fn lines_see_every_byte_kept_or_not() {
        use crate::lines::{LineLimits, LineLog};
        use crate::output::StreamKind;

        let data: Vec<u8> = (0..2000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let log = LineLog::new(crate::run::RunId::new(), LineLimits::default());
        let mut writer = log.writer(StreamKind::Stdout);
        let mut sink = BoundedCapture::new(100);
        drain(Some(&data[..]), &mut sink, Some((&log, &mut writer)), None).await;
        assert_eq!(sink.take().len(), 100);
        let lines = log.snapshot().lines;
        assert_eq!(lines.len(), 2000);
        assert_eq!(lines[1999].text, "1999");
    }
}
