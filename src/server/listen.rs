//! The accept loop behind [`Http::bind`](super::Http::bind): HTTP/1.1 on
//! hyper, one task per connection, each told its peer's address (for the
//! loopback rule of `auth`).
//!
//! Our own loop rather than `axum::serve` for two bounds it has no knob
//! for: a client must send its request head within `header_timeout`
//! (hyper then closes the connection: a slow-loris client holds a socket
//! for that long at most), and at most [`MAX_CONNECTIONS`] connections
//! are served at once (more wait in the kernel's backlog). And one our
//! own: a write that makes no progress for `write_timeout` fails the
//! connection ([`StallGuard`]), so an SSE client that stopped reading is
//! dropped instead of holding its stream forever.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;
use tower::Service;

use crate::{Error, Result};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// Largest request head hyper reads, in bytes.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The per-connection bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) header_timeout: Duration,
    pub(crate) write_timeout: Duration,
}

/// A served API; [`stop`](Self::stop) (or dropping it) closes the port
/// and every connection.
#[derive(Debug)]
pub struct Listener {
    addr: SocketAddr,
    token: Option<String>,
    generated: bool,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Listener {
    pub(crate) async fn start(
        addr: SocketAddr,
        router: Router,
        limits: Limits,
        token: Option<String>,
        generated: bool,
    ) -> Result<Listener> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::InvalidConfig(format!("cannot listen on {addr}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::InvalidConfig(format!("cannot listen on {addr}: {e}")))?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, router, limits, stopped));
        Ok(Listener {
            addr: local,
            token,
            generated,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address served (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bearer token the server takes.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Whether the token was generated (none was configured): the caller
    /// should tell it to whoever will use the API.
    pub fn token_generated(&self) -> bool {
        self.generated
    }

    /// Stop accepting, close every connection (SSE streams included) and
    /// wait for the loop to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut stopped: oneshot::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // Connections end with the loop (a JoinSet aborts its tasks on drop).
    let mut connections = JoinSet::new();
    loop {
        let acquired = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot,
            _ = &mut stopped => return,
        };
        // We never close the semaphore, so acquiring cannot fail.
        let Ok(slot) = acquired else {
            return;
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stopped => return,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off briefly
                // rather than spin.
                tracing::warn!(error = %e, "http: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        connections.spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |mut request| {
                request.extensions_mut().insert(ConnectInfo(peer));
                router.clone().call(request)
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(MAX_HEADER_BYTES);
            let served = builder
                .serve_connection(
                    TokioIo::new(StallGuard::new(stream, limits.write_timeout)),
                    service,
                )
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, %peer, "http: connection ended");
            }
        });
    }
}

/// A connection whose writes fail once one has been pending (the peer's
/// window full: it stopped reading) for longer than `limit`.
struct StallGuard {
    inner: TcpStream,
    limit: Duration,
    /// Armed when a write first returns `Pending`, disarmed by progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl StallGuard {
    fn new(inner: TcpStream, limit: Duration) -> Self {
        StallGuard {
            inner,
            limit,
            stalled: None,
        }
    }

    /// After a write returned `Pending`: fail once the stall outlasts the
    /// limit (the sleep's waker wakes the task to see it).
    fn check_stall(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the client read nothing for {limit:?}"),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for StallGuard {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for StallGuard {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.check_stall(cx),
            done => {
                self.stalled = None;
                done
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.check_stall(cx),
            done => {
                self.stalled = None;
                done
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
