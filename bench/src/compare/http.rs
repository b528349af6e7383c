//! A small HTTP/1.1 client over keep-alive connections, and the load generator built on it.
//!
//! One `Conn` is one TCP connection, reused for request after request (reopened when the server
//! closes it); one load task drives one `Conn`. Requests are prepared once as bytes, so the
//! client spends as little of the shared CPU as it can: it writes them, reads the status line
//! and headers, and reads the body by Content-Length or chunked encoding.

use crate::stats::{median, percentile};
use anyhow::{bail, Context};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const TAXII: &str = "application/taxii+json;version=2.1";

/// Standard base64 (with padding), for Basic credentials.
pub fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Percent-encodes a query value (the form encoding the server decodes).
pub fn enc(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// A server and the credentials to use on it.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// `Basic ...`, or None for no credentials (nginx).
    pub auth: Option<String>,
}

impl Target {
    pub fn new(addr: SocketAddr, user_password: Option<(&str, &str)>) -> Target {
        Target {
            addr,
            auth: user_password
                .map(|(u, p)| format!("Basic {}", base64(format!("{u}:{p}").as_bytes()))),
        }
    }

    fn head(&self, method: &str, path: &str) -> String {
        let mut s = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: {TAXII}\r\nUser-Agent: cairn-bench\r\n",
            self.addr
        );
        if let Some(a) = &self.auth {
            s += &format!("Authorization: {a}\r\n");
        }
        s
    }

    /// A GET request, ready to send.
    pub fn get(&self, path: &str) -> Vec<u8> {
        (self.head("GET", path) + "\r\n").into_bytes()
    }

    /// A POST of a TAXII body, with extra headers.
    pub fn post(&self, path: &str, extra: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
        let mut s = self.head("POST", path);
        s += &format!(
            "Content-Type: {TAXII}\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in extra {
            s += &format!("{k}: {v}\r\n");
        }
        s += "\r\n";
        let mut out = s.into_bytes();
        out.extend_from_slice(body);
        out
    }
}

/// One response, fully read.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive connection.
pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    /// Unread bytes are buf[start..end].
    start: usize,
    end: usize,
    /// Response bytes seen for the request in flight (a reused connection that the server had
    /// closed fails before any).
    got_any: bool,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            stream: None,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
            got_any: false,
        }
    }

    /// Sends a prepared request and reads the whole response. A kept-alive connection that the
    /// server closed in the meantime is reopened once.
    pub async fn send(&mut self, request: &[u8]) -> anyhow::Result<Response> {
        let reused = self.stream.is_some();
        match self.exchange(request).await {
            Ok(r) => Ok(r),
            Err(_) if reused && !self.got_any => {
                self.stream = None;
                self.exchange(request).await.inspect_err(|_| {
                    self.stream = None;
                })
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<Response> {
        self.got_any = false;
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr)
                .await
                .with_context(|| format!("connecting to {}", self.addr))?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
            self.start = 0;
            self.end = 0;
        }
        self.stream
            .as_mut()
            .expect("connected")
            .write_all(request)
            .await?;
        loop {
            let r = self.read_response().await?;
            // Interim answers (100 Continue) are followed by the real one.
            if !(100..200).contains(&r.0.status) {
                if !r.1 {
                    self.stream = None;
                }
                return Ok(r.0);
            }
        }
    }

    /// Reads more bytes into the buffer; false at end of stream.
    async fn fill(&mut self) -> anyhow::Result<bool> {
        if self.start > 0 && self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
        }
        let stream = self.stream.as_mut().context("not connected")?;
        let n = stream.read(&mut self.buf[self.end..]).await?;
        if n > 0 {
            self.got_any = true;
        }
        self.end += n;
        Ok(n > 0)
    }

    /// A line ending in CRLF (without it).
    async fn line(&mut self) -> anyhow::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf[self.start..self.end], b"\r\n") {
                let l = self.buf[self.start..self.start + i].to_vec();
                self.start += i + 2;
                return Ok(l);
            }
            if !self.fill().await? {
                bail!("connection closed mid-line");
            }
        }
    }

    /// Exactly `n` bytes appended to `out`.
    async fn exact(&mut self, mut n: usize, out: &mut Vec<u8>) -> anyhow::Result<()> {
        while n > 0 {
            if self.start == self.end && !self.fill().await? {
                bail!("connection closed mid-body");
            }
            let k = n.min(self.end - self.start);
            out.extend_from_slice(&self.buf[self.start..self.start + k]);
            self.start += k;
            n -= k;
        }
        Ok(())
    }

    /// One response and whether the connection stays open.
    async fn read_response(&mut self) -> anyhow::Result<(Response, bool)> {
        let status_line = String::from_utf8(self.line().await?)?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {status_line:?}"))?;
        let mut headers = vec![];
        loop {
            let l = self.line().await?;
            if l.is_empty() {
                break;
            }
            let l = String::from_utf8_lossy(&l).into_owned();
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        let connection = get("connection");
        let mut keep = if version == "HTTP/1.0" {
            connection.as_deref() == Some("keep-alive")
        } else {
            connection.as_deref() != Some("close")
        };
        let chunked = get("transfer-encoding").is_some_and(|t| t.contains("chunked"));
        let length: Option<usize> = get("content-length").and_then(|v| v.parse().ok());
        let mut body = vec![];
        if (100..200).contains(&status) || status == 204 || status == 304 {
            // no body
        } else if chunked {
            loop {
                let l = String::from_utf8(self.line().await?)?;
                let size = usize::from_str_radix(l.split(';').next().unwrap_or("").trim(), 16)
                    .with_context(|| format!("bad chunk size {l:?}"))?;
                if size == 0 {
                    while !self.line().await?.is_empty() {}
                    break;
                }
                self.exact(size, &mut body).await?;
                self.line().await?;
            }
        } else if let Some(n) = length {
            body.reserve(n);
            self.exact(n, &mut body).await?;
        } else {
            // Delimited by the end of the connection.
            loop {
                body.extend_from_slice(&self.buf[self.start..self.end]);
                self.start = self.end;
                if !self.fill().await? {
                    break;
                }
            }
            keep = false;
        }
        Ok((Response { status, body }, keep))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What every answer of a load cell must be: this status and this many body bytes.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    pub status: u16,
    pub len: usize,
}

/// One load cell: `conns` connections, each sending the same request back to back.
#[derive(Debug, Clone)]
pub struct Load {
    pub conns: usize,
    pub warmup: Duration,
    pub window: Duration,
    pub rounds: usize,
    /// No single request may take longer.
    pub timeout: Duration,
}

/// The medians over the rounds of a cell.
#[derive(Debug, Clone)]
pub struct CellStats {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub rps: f64,
    /// Answers counted in the measured windows.
    pub n: usize,
    pub rounds: usize,
    pub window: Duration,
    /// Answers that were not the expected status and size, and failed requests.
    pub errors: usize,
}

/// Runs one cell. Each answer counts in the window it completes in; the warm-up's are not
/// counted, and requests still in flight when the last window closes are waited for but not
/// counted.
pub async fn run_load(
    target: &Target,
    request: Arc<Vec<u8>>,
    expect: Expect,
    load: &Load,
) -> anyhow::Result<CellStats> {
    let t0 = Instant::now();
    let measure_from = t0 + load.warmup;
    let end = measure_from + load.window * load.rounds as u32;
    let mut tasks = vec![];
    for _ in 0..load.conns {
        let request = request.clone();
        let addr = target.addr;
        let timeout = load.timeout;
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            // (completed at, latency); errors
            let mut done: Vec<(Instant, Duration)> = Vec::with_capacity(1024);
            let mut errors = 0usize;
            while Instant::now() < end {
                let start = Instant::now();
                let r = tokio::time::timeout(timeout, conn.send(&request)).await;
                let finished = Instant::now();
                let ok = matches!(&r, Ok(Ok(resp)) if resp.status == expect.status && resp.body.len() == expect.len);
                if finished >= measure_from && finished < end {
                    if ok {
                        done.push((finished, finished - start));
                    } else {
                        errors += 1;
                    }
                }
                if !ok {
                    conn = Conn::new(addr);
                    if r.is_err() {
                        // Timed out: the server is past saving for this cell.
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            (done, errors)
        }));
    }
    let mut windows: Vec<Vec<Duration>> = vec![vec![]; load.rounds];
    let mut errors = 0;
    for t in tasks {
        let (done, e) = t.await?;
        errors += e;
        for (at, took) in done {
            let i = ((at - measure_from).as_secs_f64() / load.window.as_secs_f64()) as usize;
            windows[i.min(load.rounds - 1)].push(took);
        }
    }
    let full: Vec<&Vec<Duration>> = windows.iter().filter(|w| !w.is_empty()).collect();
    if full.is_empty() {
        bail!(
            "no answer completed in {} window(s) of {:.1} s ({errors} errors)",
            load.rounds,
            load.window.as_secs_f64()
        );
    }
    let secs = load.window.as_secs_f64();
    let p50: Vec<f64> = full
        .iter()
        .map(|w| crate::stats::ms(percentile(w, 50.0)))
        .collect();
    let p99: Vec<f64> = full
        .iter()
        .map(|w| crate::stats::ms(percentile(w, 99.0)))
        .collect();
    let rps: Vec<f64> = windows.iter().map(|w| w.len() as f64 / secs).collect();
    Ok(CellStats {
        p50_ms: median(&p50),
        p99_ms: median(&p99),
        rps: median(&rps),
        n: windows.iter().map(Vec::len).sum(),
        rounds: load.rounds,
        window: load.window,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_examples() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[tokio::test]
    async fn reads_lengths_chunks_and_closes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            // First connection: a Content-Length answer, then a chunked one, then one that
            // closes the connection.
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            let answers: [&[u8]; 3] = [
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n",
                b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno",
            ];
            for a in answers {
                let _ = s.read(&mut buf).await.unwrap();
                s.write_all(a).await.unwrap();
            }
            drop(s);
            // Second connection: HTTP/1.0 delimited by close.
            let (mut s, _) = listener.accept().await.unwrap();
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.0 200 OK\r\n\r\nuntil close")
                .await
                .unwrap();
        });
        let t = Target::new(addr, Some(("u", "p")));
        let mut c = Conn::new(addr);
        let r = c.send(&t.get("/a")).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        let r = c.send(&t.get("/b")).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abcde"[..]));
        let r = c.send(&t.get("/c")).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"no"[..]));
        let r = c.send(&t.get("/d")).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"until close"[..]));
    }
}
