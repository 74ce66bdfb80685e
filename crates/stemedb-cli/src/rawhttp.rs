//! A lean HTTP/1.1 keep-alive connection for `load-test` against a plain `http://` server.
//!
//! Why it exists: `load-test` shares the benchmark machine's two cores with the server it
//! measures, and the general client (reqwest: a connection pool behind a lock, a request
//! builder, header maps) spent about as much CPU per query as the server did, so the client
//! capped the measured rate where pgbench, the peer's client, costs a fifth of that. This
//! writes a prepared request and reads one `Content-Length` answer; anything else (chunked
//! bodies, `https://`, a malformed answer) is an error, never a guess.
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest answer head (status line and headers) accepted, in bytes.
const HEAD_BYTES_MAX: usize = 16 * 1024;
/// The largest answer body accepted, in bytes.
const BODY_BYTES_MAX: usize = 64 * 1024 * 1024;
/// A connection idle longer than this is not reused: the server closes idle connections
/// after its `header_read_timeout_ms` (30 s by default), and a request sent on one it closed
/// would fail. The SDK client drops idle connections at the same age.
const IDLE_REUSE_MS_MAX: u64 = 20_000;
/// Longest one request may take, as with the SDK client.
const REQUEST_TIMEOUT_MS: u64 = 60_000;

/// Where and how to connect: `host:port` and the headers every request carries.
#[derive(Clone, Debug)]
pub struct Target {
    authority: String,
    api_key: Option<String>,
}

impl Target {
    /// A target for `base_url` if it is plain `http://host:port` (with no path and an
    /// explicit port), else `None`: the caller then uses the general client.
    pub fn for_url(base_url: &str, api_key: Option<String>) -> Option<Target> {
        let authority = base_url.strip_prefix("http://")?.trim_end_matches('/');
        let port = authority.rsplit_once(':')?.1;
        if authority.contains('/') || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Target {
            authority: authority.to_owned(),
            api_key,
        })
    }
}

/// One keep-alive connection, opened on first use and again after the server closes it.
pub struct Conn {
    target: Target,
    stream: Option<TcpStream>,
    /// When the last answer on `stream` was read.
    last_used: Instant,
    request: Vec<u8>,
    buf: Vec<u8>,
}

/// An answer: its status and body.
pub struct Answer<'a> {
    pub status: u16,
    pub body: &'a [u8],
}

impl Conn {
    pub fn new(target: Target) -> Conn {
        Conn {
            target,
            stream: None,
            last_used: Instant::now(),
            request: Vec::with_capacity(1024),
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Sends `GET path_and_query` (already percent-encoded) and reads the answer.
    pub async fn get(&mut self, path_and_query: &str) -> Result<Answer<'_>> {
        self.exchange("GET", path_and_query, None).await
    }

    /// Sends `POST path` with a JSON body and reads the answer.
    pub async fn post_json(&mut self, path: &str, body: &[u8]) -> Result<Answer<'_>> {
        self.exchange("POST", path, Some(body)).await
    }

    async fn exchange(
        &mut self,
        method: &str,
        target: &str,
        body: Option<&[u8]>,
    ) -> Result<Answer<'_>> {
        self.request.clear();
        write_head(&mut self.request, &self.target, method, target, body);
        if self.last_used.elapsed() > Duration::from_millis(IDLE_REUSE_MS_MAX) {
            self.stream = None;
        }
        let limit = Duration::from_millis(REQUEST_TIMEOUT_MS);
        let outcome = match tokio::time::timeout(limit, self.send_and_retry(body)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(anyhow::anyhow!("no answer within {REQUEST_TIMEOUT_MS} ms")),
        };
        match outcome {
            Ok(head) => Ok(Answer {
                status: head.status,
                body: &self.buf[head.body_start..],
            }),
            Err(e) => {
                // Whatever the connection holds now is not known: start afresh next time.
                self.stream = None;
                Err(e)
            }
        }
    }

    /// Sends and reads once; on a reused connection that the server closed before answering
    /// (nothing of an answer read), once more on a new one.
    async fn send_and_retry(&mut self, body: Option<&[u8]>) -> Result<Head> {
        let reused = self.stream.is_some();
        match self.send_and_read(body).await {
            Err(e) if reused && self.buf.is_empty() => {
                self.stream = None;
                self.send_and_read(body)
                    .await
                    .with_context(|| format!("again on a new connection, after: {e:#}"))
            }
            outcome => outcome,
        }
    }

    async fn send_and_read(&mut self, body: Option<&[u8]>) -> Result<Head> {
        self.buf.clear();
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(&self.target.authority)
                    .await
                    .with_context(|| format!("connecting to {}", self.target.authority))?;
                stream.set_nodelay(true)?;
                self.stream.insert(stream)
            }
        };
        stream.write_all(&self.request).await?;
        if let Some(body) = body {
            stream.write_all(body).await?;
        }
        let head = read_answer(stream, &mut self.buf).await?;
        self.last_used = Instant::now();
        if !head.keep_alive {
            self.stream = None;
        }
        Ok(head)
    }
}

/// `text` percent-encoded for a query string: all but unreserved characters and `/`.
pub fn query_escape(out: &mut String, text: &str) {
    use std::fmt::Write;
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(byte as char)
            }
            // Writing into a String cannot fail.
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
}

fn write_head(out: &mut Vec<u8>, target: &Target, method: &str, path: &str, body: Option<&[u8]>) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "{method} {path} HTTP/1.1\r\nhost: {}\r\n",
        target.authority
    );
    if let Some(key) = &target.api_key {
        let _ = write!(out, "x-api-key: {key}\r\n");
    }
    if let Some(body) = body {
        let _ = write!(
            out,
            "content-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
    }
    out.extend_from_slice(b"\r\n");
}

/// What the head of an answer says.
#[derive(Debug, PartialEq)]
struct Head {
    status: u16,
    content_length: usize,
    keep_alive: bool,
    /// Offset of the body in the buffer the head was read into.
    body_start: usize,
}

/// Reads one answer into `buf` (head and body) and returns its head.
async fn read_answer(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Head> {
    buf.clear();
    let head = loop {
        if let Some(head) = parse_head(buf)? {
            break head;
        }
        if buf.len() > HEAD_BYTES_MAX {
            bail!("the answer's head exceeds {HEAD_BYTES_MAX} bytes");
        }
        read_more(stream, buf).await?;
    };
    let end = head.body_start + head.content_length;
    while buf.len() < end {
        read_more(stream, buf).await?;
    }
    if buf.len() > end {
        bail!("the server sent more than one answer to one request");
    }
    Ok(head)
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<()> {
    buf.reserve(16 * 1024);
    let read = stream.read_buf(buf).await?;
    if read == 0 {
        bail!("the server closed the connection mid-answer");
    }
    Ok(())
}

/// The head at the start of `buf`, or `None` while it is incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).context("the answer's head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = match status_line.split(' ').collect::<Vec<_>>()[..] {
        ["HTTP/1.1", code, ..] => code.parse::<u16>().ok(),
        _ => None,
    }
    .with_context(|| format!("not an HTTP/1.1 status line: {status_line:?}"))?;
    let (mut content_length, mut keep_alive) = (None, true);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            bail!("a header line without a colon: {line:?}");
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => content_length = Some(value.parse::<usize>()?),
            "transfer-encoding" => bail!("transfer-encoding {value:?} is not supported here"),
            "connection" => keep_alive = !value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let content_length = content_length.context("an answer without content-length")?;
    if content_length > BODY_BYTES_MAX {
        bail!("an answer body of {content_length} bytes exceeds {BODY_BYTES_MAX}");
    }
    Ok(Some(Head {
        status,
        content_length,
        keep_alive,
        body_start: end + 4,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<Option<(u16, usize, bool)>, &str>) {
        let got = parse_head(input.as_bytes())
            .map(|h| h.map(|h| (h.status, h.content_length, h.keep_alive)))
            .map_err(|e| e.to_string());
        match expected {
            Ok(want) => assert_eq!(got.as_ref().ok(), Some(&want), "{input:?}: {got:?}"),
            Err(part) => match got {
                Err(e) => assert!(e.contains(part), "{input:?}: {e:?} lacks {part:?}"),
                Ok(h) => panic!("{input:?}: expected an error with {part:?}, got {h:?}"),
            },
        }
    }

    #[test]
    fn heads() {
        let ok = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n";
        check(ok, Ok(Some((200, 12, true))));
        check(&ok[..20], Ok(None));
        check(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            Ok(Some((404, 0, false))),
        );
        check(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            Err("transfer-encoding"),
        );
        check("HTTP/1.1 200 OK\r\n\r\n", Err("without content-length"));
        check(
            "HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n",
            Err("status line"),
        );
        check("HTTP/1.1 200 OK\r\nbogus\r\n\r\n", Err("without a colon"));
        check(
            "HTTP/1.1 200 OK\r\ncontent-length: 999999999999\r\n\r\n",
            Err("exceeds"),
        );
    }

    /// A server that answers one request per connection and then closes it without saying
    /// so (as a server does to a connection idle past its timeout).
    async fn one_answer_per_connection(listener: tokio::net::TcpListener, connections: usize) {
        for _ in 0..connections {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut read = 0;
            while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                read += socket.read(&mut buf[read..]).await.unwrap();
            }
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(one_answer_per_connection(listener, 3));
        let mut conn = Conn::new(Target::for_url(&url, None).unwrap());
        for round in 0..3 {
            let answer = conn
                .get("/v1/health")
                .await
                .unwrap_or_else(|e| panic!("{round}: {e:#}"));
            assert_eq!((answer.status, answer.body), (200, &b"ok"[..]), "{round}");
        }
        server.await.unwrap();
    }

    #[test]
    fn escapes() {
        let mut out = String::new();
        query_escape(&mut out, "load/pg/s0 a&b=c+é");
        assert_eq!(out, "load/pg/s0%20a%26b%3Dc%2B%C3%A9");
    }

    #[test]
    fn targets() {
        let t = |url: &str| Target::for_url(url, None).map(|t| t.authority);
        assert_eq!(t("http://127.0.0.1:18180"), Some("127.0.0.1:18180".into()));
        assert_eq!(t("http://127.0.0.1:18180/"), Some("127.0.0.1:18180".into()));
        assert_eq!(t("https://127.0.0.1:18180"), None);
        assert_eq!(t("http://host/prefix"), None);
        assert_eq!(
            t("http://host"),
            None,
            "no port: the SDK client knows the default"
        );
        assert_eq!(t("http://host:"), None);
        assert_eq!(t("http://"), None);
    }
}
