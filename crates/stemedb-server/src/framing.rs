//! Ambiguous request framing, found below hyper: a request head with both `Content-Length`
//! and `Transfer-Encoding` (the raw material of request smuggling). hyper drops the length,
//! reads the body as chunked and closes the connection afterwards, but does not tell the
//! service. So the bytes of each connection pass through [`FramingCheck`], which follows the
//! request boundaries as hyper does (heads, then bodies by length or by chunks) and records the
//! index of a head that has both; [`Framing::mark`] then marks that request as it reaches the
//! service, and the edge (`edge.rs`) refuses it with 400 `ambiguous-framing`.
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::edge::AmbiguousFraming;

/// hyper's limit is 100 headers; a head with more is refused by hyper anyway.
const HEADERS_MAX: usize = 128;
/// Longest chunk-size line followed; a longer one stops the check (hyper refuses it).
const CHUNK_LINE_BYTES_MAX: usize = 4096;
const NONE: u64 = u64::MAX;

/// What the connection's reader found, shared with the connection's service.
#[derive(Debug)]
pub struct Framing {
    /// Index of the head (0 = first on the connection) with both headers, or `NONE`.
    ambiguous_head: AtomicU64,
    /// Requests handed to the service so far.
    served: AtomicU64,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            ambiguous_head: AtomicU64::new(NONE),
            served: AtomicU64::new(0),
        }
    }
}

impl Framing {
    /// Called for each request in order as hyper hands it over: marks the ambiguous one.
    pub fn mark<B>(&self, request: &mut axum::http::Request<B>) {
        let index = self.served.fetch_add(1, Ordering::SeqCst);
        if self.ambiguous_head.load(Ordering::SeqCst) == index {
            request.extensions_mut().insert(AmbiguousFraming);
        }
    }
}

/// Where the reader is in the stream of requests.
#[derive(Debug)]
enum State {
    /// Reading a head (bytes so far).
    Head(Vec<u8>),
    /// Skipping this many body bytes.
    Body(u64),
    /// Reading a chunk-size line.
    ChunkSize(Vec<u8>),
    /// Skipping this many chunk bytes.
    ChunkData(u64),
    /// Skipping the line end after a chunk.
    ChunkEnd,
    /// Reading trailer lines; true at the start of a line.
    Trailers(bool),
    /// No more checks on this connection (it ends after this request, or hyper refuses it).
    Done,
}

/// An I/O stream whose reads are followed request by request.
pub struct FramingCheck<I> {
    inner: I,
    tracker: Tracker,
}

impl<I> FramingCheck<I> {
    pub fn new(inner: I, framing: Arc<Framing>, head_bytes_max: usize) -> Self {
        FramingCheck {
            inner,
            tracker: Tracker {
                state: State::Head(Vec::new()),
                heads: 0,
                head_bytes_max,
                framing,
            },
        }
    }
}

struct Tracker {
    state: State,
    /// Complete heads seen.
    heads: u64,
    head_bytes_max: usize,
    framing: Arc<Framing>,
}

impl Tracker {
    fn scan(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let used = self.step(bytes);
            bytes = bytes.get(used..).unwrap_or_default();
        }
    }

    /// Follows a prefix of `bytes` (at least one byte); returns how many it used.
    fn step(&mut self, bytes: &[u8]) -> usize {
        match &mut self.state {
            State::Done => bytes.len(),
            State::Head(buffer) => {
                let before = buffer.len();
                let taken = bytes.len().min(self.head_bytes_max.saturating_sub(before));
                buffer.extend_from_slice(&bytes[..taken]);
                // Only the new bytes (and the two before them) can complete a blank line.
                if has_blank_line(&buffer[before.saturating_sub(2)..]) {
                    let buffer = std::mem::take(buffer);
                    if let Some(length) = self.parse_head(buffer) {
                        // The buffer held no complete head before these bytes: length > before.
                        return length.saturating_sub(before).clamp(1, taken.max(1));
                    }
                }
                match &self.state {
                    State::Head(buffer) if buffer.len() < self.head_bytes_max && taken > 0 => taken,
                    _ => {
                        // Too long for hyper too (431), or not a head: stop following.
                        self.state = State::Done;
                        bytes.len()
                    }
                }
            }
            State::Body(left) | State::ChunkData(left) => {
                let used = (*left).min(bytes.len() as u64);
                *left -= used;
                if *left == 0 {
                    self.state = match self.state {
                        State::ChunkData(_) => State::ChunkEnd,
                        _ => State::Head(Vec::new()),
                    };
                }
                used as usize
            }
            State::ChunkEnd => match line_end(bytes) {
                Some(end) => {
                    self.state = State::ChunkSize(Vec::new());
                    end
                }
                None => bytes.len(),
            },
            State::ChunkSize(line) => {
                let end = line_end(bytes);
                line.extend_from_slice(&bytes[..end.unwrap_or(bytes.len())]);
                if line.len() > CHUNK_LINE_BYTES_MAX {
                    self.state = State::Done;
                } else if end.is_some() {
                    self.state = match httparse::parse_chunk_size(line) {
                        Ok(httparse::Status::Complete((_, 0))) => State::Trailers(true),
                        Ok(httparse::Status::Complete((_, size))) => State::ChunkData(size),
                        _ => State::Done,
                    };
                }
                end.unwrap_or(bytes.len())
            }
            State::Trailers(at_line_start) => {
                for (i, &byte) in bytes.iter().enumerate() {
                    match byte {
                        b'\n' if *at_line_start => {
                            self.state = State::Head(Vec::new());
                            return i + 1;
                        }
                        b'\n' => *at_line_start = true,
                        b'\r' => {}
                        _ => *at_line_start = false,
                    }
                }
                bytes.len()
            }
        }
    }

    /// Parses a buffered head; when complete, moves to its body and returns its length.
    fn parse_head(&mut self, buffer: Vec<u8>) -> Option<usize> {
        let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
        let mut request = httparse::Request::new(&mut headers);
        let length = match request.parse(&buffer) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => {
                self.state = State::Head(buffer);
                return None;
            }
            Err(_) => {
                self.state = State::Done;
                return None;
            }
        };
        let named = |name: &'static str| {
            request
                .headers
                .iter()
                .filter(move |h| h.name.eq_ignore_ascii_case(name))
        };
        let chunked = named("transfer-encoding").next().is_some();
        let lengths: Vec<Option<u64>> = named("content-length")
            .map(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
            .collect();
        let index = self.heads;
        self.heads += 1;
        self.state = match (chunked, lengths.first()) {
            (true, Some(_)) => {
                self.framing.ambiguous_head.store(index, Ordering::SeqCst);
                State::Done
            }
            (true, None) => State::ChunkSize(Vec::new()),
            (false, Some(Some(length))) if lengths.iter().all(|l| *l == Some(*length)) => {
                if *length == 0 {
                    State::Head(Vec::new())
                } else {
                    State::Body(*length)
                }
            }
            (false, Some(_)) => State::Done,
            (false, None) => State::Head(Vec::new()),
        };
        Some(length)
    }
}

/// Whether a buffered head may be complete (an empty line after a line).
fn has_blank_line(buffer: &[u8]) -> bool {
    buffer.windows(2).any(|w| w == b"\n\n") || buffer.windows(3).any(|w| w == b"\n\r\n")
}

/// The index just past the first `\n`, if any.
fn line_end(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n').map(|i| i + 1)
}

impl<I: AsyncRead + Unpin> AsyncRead for FramingCheck<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.tracker.scan(&buf.filled()[before..]);
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for FramingCheck<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` in pieces of `piece` bytes; returns the ambiguous head's index.
    fn ambiguous(stream: &[u8], piece: usize) -> Option<u64> {
        let framing = Arc::new(Framing::default());
        let mut check = FramingCheck::new((), Arc::clone(&framing), 16 * 1024);
        for part in stream.chunks(piece) {
            check.tracker.scan(part);
        }
        let head = framing.ambiguous_head.load(Ordering::SeqCst);
        (head != NONE).then_some(head)
    }

    #[test]
    fn follows_lengths_chunks_and_trailers_to_the_ambiguous_head() {
        let stream = [
            "GET /a HTTP/1.1\r\nhost: x\r\n\r\n",
            "POST /b HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello",
            "POST /c HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nt: 1\r\n\r\n",
            "\r\nPOST /d HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ]
        .concat();
        for piece in [1, 2, 7, 64, 4096] {
            assert_eq!(
                ambiguous(stream.as_bytes(), piece),
                Some(3),
                "piece {piece}"
            );
        }
        let inner = "GET / HTTP/1.1\r\ncontent-length: 1\r\ntransfer-encoding: x\r\n\r\n";
        let body_lookalike = format!(
            "POST /e HTTP/1.1\r\ncontent-length: {}\r\n\r\n{inner}",
            inner.len()
        );
        assert_eq!(ambiguous(body_lookalike.as_bytes(), 5), None);
        assert_eq!(ambiguous(inner.as_bytes(), 5), Some(0));
        // A head arriving with more body than the head limit in one read is still followed.
        let big = format!(
            "POST /f HTTP/1.1\r\ncontent-length: 40000\r\n\r\n{}{inner}",
            "x".repeat(40_000)
        );
        assert_eq!(ambiguous(big.as_bytes(), 65_536), Some(1));
    }
}
