//! Line framing on a worker's pipes, bounded: a worker that never writes a
//! newline must not make us buffer without limit.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// How a bounded line read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    /// A whole line is in the buffer (without its newline).
    Complete,
    /// The line is longer than the cap: the buffer holds its first `cap`
    /// bytes; the rest is still unread.
    TooLong,
    /// End of file; the buffer holds an unterminated last line, if any.
    Eof,
}

/// Append the next line of `reader` to `buf` (without the newline), keeping
/// `buf` at most `cap` bytes long.
///
/// # Cancel safety
/// Cancel safe in the sense of `read_until`: bytes read before cancellation
/// are in `buf`, and nothing is lost from the reader.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> io::Result<Line> {
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(Line::Eof);
        }
        let room = cap.saturating_sub(buf.len());
        match chunk.iter().position(|&b| b == b'\n') {
            Some(end) if end <= room => {
                buf.extend_from_slice(&chunk[..end]);
                reader.consume(end + 1);
                return Ok(Line::Complete);
            }
            found => {
                let (len, take) = (chunk.len(), chunk.len().min(room));
                buf.extend_from_slice(&chunk[..take]);
                reader.consume(take);
                if found.is_some() || take < len {
                    return Ok(Line::TooLong);
                }
            }
        }
    }
}

/// Discard the rest of the current line (after [`Line::TooLong`]).
///
/// # Cancel safety
/// Cancel safe.
pub(crate) async fn skip_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<Line> {
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(Line::Eof);
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(end) => {
                reader.consume(end + 1);
                return Ok(Line::Complete);
            }
            None => {
                let n = chunk.len();
                reader.consume(n);
            }
        }
    }
}
