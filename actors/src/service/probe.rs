//! Readiness and liveness probes: a TCP connect, an HTTP/1.1 GET over a
//! plain tokio `TcpStream`, the line matcher, and the futures the keeper
//! waits on (ready; liveness failed).
//!
//! The HTTP probe is written here rather than pulled from a client crate:
//! it sends one `GET` with `Connection: close` and reads only the status
//! line, which is all a probe needs, and keeps an HTTP stack out of the
//! runtime. No TLS: `https://` is refused when the spec is checked.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::spec::{Liveness, Readiness};

/// Where an HTTP probe connects and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpTarget {
    /// `host:port` to connect to.
    pub(crate) addr: String,
    /// The `Host` header.
    pub(crate) host: String,
    /// Path and query (`/health`).
    pub(crate) path: String,
}

impl HttpTarget {
    /// Parse `http://host[:port][/path]`.
    ///
    /// # Errors
    /// What is wrong with the URL, for `InvalidService`.
    pub(crate) fn parse(url: &str) -> Result<HttpTarget, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            if url.starts_with("https://") {
                format!("{url:?}: https is not supported by the probe (plain http only)")
            } else {
                format!("{url:?} is not an http:// URL")
            }
        })?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        if authority.is_empty()
            || authority.contains(['@', ' '])
            || path.contains([' ', '\r', '\n'])
        {
            return Err(format!("{url:?} has no usable host or path"));
        }
        let has_port = match authority.rsplit_once(':') {
            Some((_, port)) if !authority.ends_with(']') => {
                port.parse::<u16>()
                    .map_err(|_| format!("{url:?}: port {port:?} is not a number"))?;
                true
            }
            _ => false,
        };
        let addr = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(HttpTarget {
            addr,
            host: authority.to_string(),
            path: path.to_string(),
        })
    }
}

/// One TCP connect to `127.0.0.1:port` within `bound`.
pub(crate) async fn tcp(port: u16, bound: Duration) -> bool {
    matches!(
        tokio::time::timeout(bound, TcpStream::connect(("127.0.0.1", port))).await,
        Ok(Ok(_))
    )
}

/// One HTTP GET within `bound`: whether the status is 2xx.
pub(crate) async fn http(target: &HttpTarget, bound: Duration) -> bool {
    tokio::time::timeout(bound, http_status(target))
        .await
        .ok()
        .flatten()
        .is_some_and(|status| (200..300).contains(&status))
}

/// The status code of one GET, `None` on any failure.
async fn http_status(target: &HttpTarget) -> Option<u16> {
    let mut stream = TcpStream::connect(&target.addr).await.ok()?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: taskorch-probe\r\nConnection: close\r\n\r\n",
        target.path, target.host
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    // The status line fits in the first read or few; 512 bytes is plenty
    // for "HTTP/1.1 200 OK\r\n" with any reason phrase.
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 512 {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status(&head)
}

/// The code of an HTTP/1.x status line.
fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// Whether an output line satisfies a line probe: a plain substring match.
pub(crate) fn line_matches(line: &str, pattern: &str) -> bool {
    line.contains(pattern)
}

/// First pause between two probe attempts; doubles up to [`PROBE_MAX`].
const PROBE_MIN: Duration = Duration::from_millis(20);
/// Longest pause between two probe attempts (and the bound of one).
const PROBE_MAX: Duration = Duration::from_millis(500);

/// The future that completes when `ready` succeeds (never, if it never
/// does: the start timeout ends it).
pub(crate) fn readiness(
    ready: &Readiness,
    lines: Option<Arc<crate::lines::LineLog>>,
    spawned: oneshot::Receiver<()>,
    bound: Duration,
) -> BoxFuture<'static, ()> {
    let ready = ready.clone();
    async move {
        // Every probe starts once the process exists.
        if spawned.await.is_err() {
            return std::future::pending().await;
        }
        match ready {
            Readiness::Started => {}
            Readiness::Line(pattern) => {
                let Some(lines) = lines else {
                    return std::future::pending().await;
                };
                let mut reader = lines.subscribe();
                loop {
                    match reader.next_line().await {
                        Some(line) if line_matches(&line.text, &pattern) => break,
                        Some(_) => {}
                        None => return std::future::pending().await,
                    }
                }
            }
            Readiness::Tcp(_) | Readiness::Http(_) => {
                let mut pause = PROBE_MIN;
                while !probe_once(&ready, PROBE_MAX.min(bound)).await {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(PROBE_MAX);
                }
            }
        }
    }
    .boxed()
}

/// One attempt of a `Tcp` or `Http` probe.
async fn probe_once(probe: &Readiness, bound: Duration) -> bool {
    match probe {
        Readiness::Tcp(port) => tcp(*port, bound).await,
        Readiness::Http(url) => match HttpTarget::parse(url) {
            Ok(target) => http(&target, bound).await,
            Err(_) => false,
        },
        Readiness::Started | Readiness::Line(_) => true,
    }
}

/// The future that completes, with what failed, when the liveness check
/// fails (never without one).
pub(crate) fn live(
    liveness: Option<&Liveness>,
    lines: Option<Arc<crate::lines::LineLog>>,
) -> BoxFuture<'static, String> {
    let Some(liveness) = liveness.cloned() else {
        return std::future::pending().boxed();
    };
    async move {
        match liveness {
            Liveness::Probe { probe, every } => loop {
                tokio::time::sleep(every).await;
                if !probe_once(&probe, every).await {
                    return format!("liveness: {probe} failed");
                }
            },
            Liveness::Heartbeat { line, within } => {
                let Some(lines) = lines else {
                    return std::future::pending().await;
                };
                let mut reader = lines.subscribe();
                // Lines before readiness are not heartbeats of this period.
                let mut last = Instant::now();
                loop {
                    let deadline = crate::duration::after(last, within);
                    match tokio::time::timeout_at(deadline, reader.next_line()).await {
                        Err(_) => {
                            return format!(
                                "liveness: no heartbeat line {line:?} within {within:?}"
                            );
                        }
                        Ok(Some(l)) if line_matches(&l.text, &line) => last = Instant::now(),
                        Ok(Some(_)) => {}
                        // The incarnation ended: its end is reported instead.
                        Ok(None) => return std::future::pending().await,
                    }
                }
            }
        }
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_address_host_and_path() {
        let t = HttpTarget::parse("http://127.0.0.1:8080/health?x=1").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080");
        assert_eq!(t.host, "127.0.0.1:8080");
        assert_eq!(t.path, "/health?x=1");
        let t = HttpTarget::parse("http://localhost").unwrap();
        assert_eq!((t.addr.as_str(), t.path.as_str()), ("localhost:80", "/"));
        assert!(
            HttpTarget::parse("https://x/")
                .unwrap_err()
                .contains("https")
        );
        assert!(HttpTarget::parse("ftp://x/").is_err());
        assert!(
            HttpTarget::parse("http://x:99999/")
                .unwrap_err()
                .contains("port")
        );
        assert!(HttpTarget::parse("http:///").is_err());
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(parse_status(b"HTTP/1.0 503 Busy\r\nx"), Some(503));
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status(b""), None);
    }

    #[tokio::test]
    async fn http_probe_accepts_2xx_only() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            for status in ["200 OK", "500 Oops"] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap();
                assert!(
                    std::str::from_utf8(&buf[..n])
                        .unwrap()
                        .starts_with("GET /h HTTP/1.1")
                );
                let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                s.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        let target = HttpTarget::parse(&format!("http://127.0.0.1:{port}/h")).unwrap();
        assert!(http(&target, Duration::from_secs(5)).await);
        assert!(!http(&target, Duration::from_secs(5)).await);
        server.await.unwrap();
        assert!(tcp(port, Duration::from_secs(5)).await.not());
    }

    use std::ops::Not;
}
