//! Bytes of one output stream -> lines.
//!
//! A child writes bytes, not lines: a read can end in the middle of a line
//! (or of a UTF-8 character), a line can be longer than anything we want to
//! hold, and the stream can end without a final newline. The splitter keeps
//! the unfinished line between reads (never more than the line cap), cuts
//! over-long lines at the cap on a character boundary, drops the `\r` of
//! `\r\n`, and hands over the rest of the stream as a last line when it
//! ends. UTF-8 is not checked here: invalid bytes are replaced when a line
//! is read out of the ring.

use crate::output::StreamKind;

/// Splits one stream of one attempt into lines (see the module docs).
#[derive(Debug)]
pub(crate) struct LineSplitter {
    stream: StreamKind,
    max: usize,
    /// The start of a line whose end has not arrived yet; at most `max`
    /// bytes.
    pending: Vec<u8>,
}

impl LineSplitter {
    /// A splitter for `stream` cutting lines longer than `max` bytes
    /// (at least 4, room for any character).
    pub(crate) fn new(stream: StreamKind, max: usize) -> Self {
        LineSplitter {
            stream,
            max: max.max(4),
            pending: Vec::new(),
        }
    }

    /// The stream this splitter splits.
    pub(crate) fn stream(&self) -> StreamKind {
        self.stream
    }

    /// Split the next bytes of the stream; `emit(text, split)` gets each
    /// line completed by them, and each piece cut off a long line.
    pub(crate) fn feed(&mut self, chunk: &[u8], mut emit: impl FnMut(&[u8], bool)) {
        let mut rest = chunk;
        while let Some(newline) = memchr::memchr(b'\n', rest) {
            self.segment(&rest[..newline], true, &mut emit);
            rest = &rest[newline + 1..];
        }
        if !rest.is_empty() {
            self.segment(rest, false, &mut emit);
        }
    }

    /// The stream ended: emit the unfinished line, if any.
    pub(crate) fn finish(&mut self, mut emit: impl FnMut(&[u8], bool)) {
        if !self.pending.is_empty() {
            emit(&self.pending, false);
            self.pending.clear();
        }
    }

    /// Add `seg` to the current line; `eol` if a newline ended it.
    fn segment(&mut self, mut seg: &[u8], eol: bool, emit: &mut impl FnMut(&[u8], bool)) {
        if eol {
            if let Some(stripped) = seg.strip_suffix(b"\r") {
                seg = stripped;
            } else if seg.is_empty() && self.pending.last() == Some(&b'\r') {
                // The `\r` of a `\r\n` that a read boundary cut in two.
                self.pending.pop();
            }
        }
        // The common case: a whole short line inside one read, emitted
        // straight from the read buffer.
        if self.pending.is_empty() && seg.len() <= self.max {
            if eol {
                emit(seg, false);
            } else {
                self.pending.extend_from_slice(seg);
            }
            return;
        }
        // Cut pieces only once the line is known to be *longer* than the
        // cap: a line of exactly `max` bytes is not split.
        while self.pending.len() + seg.len() > self.max {
            let room = self.max - self.pending.len();
            self.pending.extend_from_slice(&seg[..room]);
            seg = &seg[room..];
            let cut = char_boundary(&self.pending);
            emit(&self.pending[..cut], true);
            // At most 3 bytes (an unfinished character) stay behind.
            self.pending.drain(..cut);
        }
        self.pending.extend_from_slice(seg);
        if eol {
            emit(&self.pending, false);
            self.pending.clear();
        }
    }
}

/// Where `buf` can be cut without splitting a UTF-8 character: before an
/// unfinished multi-byte sequence at its end, else at its end. Invalid
/// bytes are not our concern (they are replaced when stored), and a cut
/// is never at 0, so every piece makes progress.
fn char_boundary(buf: &[u8]) -> usize {
    let len = buf.len();
    for back in 1..=len.min(3) {
        let byte = buf[len - back];
        if byte & 0xC0 == 0x80 {
            // A continuation byte: the character starts further back.
            continue;
        }
        let width = match byte {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if width > back && back < len {
            len - back
        } else {
            len
        };
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(max: usize, chunks: &[&[u8]]) -> Vec<(String, bool)> {
        let mut splitter = LineSplitter::new(StreamKind::Stdout, max);
        let mut lines = Vec::new();
        let mut emit = |text: &[u8], split: bool| {
            lines.push((String::from_utf8_lossy(text).into_owned(), split))
        };
        for chunk in chunks {
            splitter.feed(chunk, &mut emit);
        }
        splitter.finish(&mut emit);
        lines
    }

    fn plain(lines: &[&str]) -> Vec<(String, bool)> {
        lines.iter().map(|l| (l.to_string(), false)).collect()
    }

    #[test]
    fn lines_across_reads_and_a_partial_last_line() {
        let got = split_all(64, &[b"one\ntw", b"o\n\nthr", b"ee"]);
        assert_eq!(got, plain(&["one", "two", "", "three"]));
    }

    #[test]
    fn crlf_loses_its_cr_even_across_reads() {
        let got = split_all(64, &[b"a\r\nb\r", b"\nc\rd\n"]);
        assert_eq!(got, plain(&["a", "b", "c\rd"]));
    }

    #[test]
    fn long_lines_are_cut_at_the_cap_and_flagged() {
        let got = split_all(4, &[b"abcdefghij\nabcd\nxy"]);
        assert_eq!(
            got,
            vec![
                ("abcd".into(), true),
                ("efgh".into(), true),
                ("ij".into(), false),
                ("abcd".into(), false),
                ("xy".into(), false),
            ]
        );
        // The same line fed a byte at a time cuts at the same places.
        let bytes = b"abcdefghij\n";
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(split_all(4, &chunks)[..3], got[..3]);
    }

    #[test]
    fn a_line_of_exactly_the_cap_is_not_split_even_when_its_newline_comes_late() {
        assert_eq!(split_all(4, &[b"abcd", b"\n"]), plain(&["abcd"]));
        assert_eq!(
            split_all(4, &[b"abcd", b"e\n"]),
            vec![("abcd".into(), true), ("e".into(), false)]
        );
    }

    #[test]
    fn cuts_never_split_a_character() {
        // "aé€" is a(1) é(2) €(3): with a cap of 4, "aé" + the first byte
        // of € fits but would split it.
        let text = "aé€😀z\n";
        let got = split_all(4, &[text.as_bytes()]);
        assert_eq!(
            got,
            vec![
                ("aé".into(), true),
                ("€".into(), true),
                ("😀".into(), true),
                ("z".into(), false),
            ]
        );
        assert!(got.iter().all(|(l, _)| !l.contains('\u{FFFD}')));
    }

    #[test]
    fn char_boundary_cases() {
        assert_eq!(char_boundary(b"abcd"), 4);
        assert_eq!(char_boundary("ab\u{e9}".as_bytes()), 4);
        assert_eq!(char_boundary(&"ab\u{e9}".as_bytes()[..3]), 2);
        assert_eq!(char_boundary(&"a\u{20ac}".as_bytes()[..3]), 1);
        assert_eq!(char_boundary(&[0xF0, 0x9F, 0x98]), 3, "never cut at 0");
        assert_eq!(char_boundary(&[b'a', 0xFF]), 2, "invalid bytes stay");
    }

    #[test]
    fn memory_held_between_reads_is_bounded_by_the_cap() {
        let mut splitter = LineSplitter::new(StreamKind::Stderr, 1024);
        let mut pieces = 0;
        let chunk = vec![b'x'; 4096];
        for _ in 0..256 {
            assert_eq!(splitter.stream(), StreamKind::Stderr);
            splitter.feed(&chunk, |text, split| {
                assert!(split && text.len() == 1024);
                pieces += 1;
            });
            assert!(splitter.pending.len() <= 1024);
        }
        assert_eq!(pieces, 1023, "the last full piece waits for more bytes");
    }
}
