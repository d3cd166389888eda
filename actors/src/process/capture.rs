//! Bounded capture of a child's stdout and stderr.
//!
//! Output is never unbounded in memory: each stream keeps at most its cap,
//! and everything past it is still *read* (so the child never blocks on a
//! full pipe) but discarded and counted.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Read size per `read` call: large enough that a chatty child costs few
/// wake-ups. Reads go straight into the capture's heap buffer, never into a
/// stack array: a buffer inside the future would make every run future
/// tens of kilobytes, copied on each move.
const CHUNK: usize = 16 * 1024;

/// The first read of a stream: enough for the typical short output.
const FIRST_READ: usize = 512;

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

/// Read `reader` to end of file into `sink`.
///
/// Errors end the capture quietly: a read error on a child's pipe means the
/// child is gone, which the exit status reports better.
///
/// # Cancel safety
/// Cancel safe: everything read before cancellation is already in `sink`.
pub(crate) async fn drain<R: AsyncRead + Unpin>(reader: Option<R>, sink: &mut BoundedCapture) {
    let Some(mut reader) = reader else { return };
    // Below the cap: read into the spare capacity of the kept bytes.
    while sink.bytes.len() < sink.cap {
        let room = sink.cap - sink.bytes.len();
        // Grow with what the child actually writes: most runs print little,
        // and a large first reservation per stream per run costs more than
        // the run's own bookkeeping.
        let want = sink.bytes.len().clamp(FIRST_READ, CHUNK);
        sink.bytes.reserve(room.min(want));
        match (&mut reader)
            .take(room as u64)
            .read_buf(&mut sink.bytes)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
    // Past the cap: keep reading so the child never blocks, count, discard.
    let mut scratch = vec![0u8; CHUNK];
    loop {
        match reader.read(&mut scratch).await {
            Ok(0) | Err(_) => return,
            Ok(n) => sink.dropped += n as u64,
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
        drain(Some(&data[..]), &mut sink).await;
        assert_eq!(sink.dropped(), 99_000);
        assert_eq!(sink.take().len(), 1000);
    }
}
