//! Bounded capture of a byte stream: keeps the first `max` bytes for the result and the
//! last few bytes for error messages, counts the rest, and never stops reading (a child
//! blocked on a full pipe would never exit).
use std::collections::VecDeque;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

/// Bytes of the end of a stream kept for error messages.
pub(crate) const TAIL_BYTES: usize = 2 * 1024;

#[derive(Debug, Default)]
pub(crate) struct Capture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    max: usize,
    total: u64,
}

impl Capture {
    pub(crate) fn new(max: usize) -> Self {
        Capture { max, ..Default::default() }
    }

    pub(crate) fn push(&mut self, mut chunk: &[u8]) {
        self.total += chunk.len() as u64;
        let room = self.max.saturating_sub(self.head.len());
        self.head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        if chunk.len() > TAIL_BYTES {
            chunk = &chunk[chunk.len() - TAIL_BYTES..];
        }
        self.tail.extend(chunk);
        let excess = self.tail.len().saturating_sub(TAIL_BYTES);
        self.tail.drain(..excess);
    }

    /// Reads `reader` to its end, an error, or until `stop` is cancelled, and keeps what
    /// it got either way.
    pub(crate) async fn read_all<R: AsyncRead + Unpin>(mut self, mut reader: R, stop: &CancellationToken) -> Self {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            // `read` on a tokio pipe is cancel-safe: losing the race to `stop` loses no data.
            let n = tokio::select! {
                n = reader.read(&mut buf) => n.unwrap_or(0),
                _ = stop.cancelled() => 0,
            };
            if n == 0 {
                return self;
            }
            self.push(&buf[..n]);
        }
    }

    pub(crate) fn truncated(&self) -> bool {
        self.total > self.head.len() as u64
    }

    /// The kept head as text; invalid UTF-8 (or a character cut at the bound) becomes U+FFFD.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.head).into_owned()
    }

    /// The last bytes of the stream as text, trimmed, for error messages.
    pub(crate) fn tail_text(&self) -> String {
        let (a, b) = self.tail.as_slices();
        let mut bytes = Vec::with_capacity(a.len() + b.len());
        bytes.extend_from_slice(a);
        bytes.extend_from_slice(b);
        String::from_utf8_lossy(&bytes).trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail_and_counts_everything() {
        let mut c = Capture::new(4);
        c.push(b"abc");
        c.push(b"defgh");
        assert_eq!(c.text(), "abcd");
        assert!(c.truncated());
        assert_eq!(c.total, 8);
        assert_eq!(c.tail_text(), "abcdefgh");
        c.push(&vec![b'x'; TAIL_BYTES + 10]);
        assert_eq!(c.tail_text(), "x".repeat(TAIL_BYTES));
        let mut small = Capture::new(10);
        small.push(b"hi");
        assert!(!small.truncated());
    }
}
