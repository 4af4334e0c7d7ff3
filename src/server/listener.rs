//! The listener `serve` accepts the host's connections on, with the limits `axum::serve` does not
//! have (issue 11, section 3):
//!
//! - **Header timeout** (`SERVE_HEADER_TIMEOUT_SECS`, 10 s): a request's head must be complete
//!   within this of its first byte, else the connection is closed (headers trickled a byte at a
//!   time). The clock starts at the first byte, not when the connection falls idle: hyper's own
//!   `header_read_timeout` starts when a keep-alive connection goes idle, which would cut the
//!   host's pooled connections.
//! - **Idle timeout** (`SERVE_IDLE_TIMEOUT_SECS`, 600 s): an idle keep-alive connection is closed
//!   after this. The host's .NET `HttpClient` pools connections and closes idle ones itself after
//!   1 to 2 minutes; a handler that closed them first could reset a connection the host was
//!   reusing, so this is well beyond it (`functions-host` pitfall: prefer a long idle timeout).
//! - **Body timeout** (`SERVE_BODY_TIMEOUT_SECS`, 60 s): read by the handlers (`body`), since
//!   only they know when they wait for memory rather than for the sender.
//! - **Connection cap** (`SERVE_MAX_CONNECTIONS`, 256): past it, before accepting another, the
//!   connection idle or stalled longest (no request in progress, or a body that stopped arriving)
//!   is closed; when every connection is busy, accepting waits. A flood of idle connections thus
//!   costs descriptors up to the cap and never keeps the host out.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::config::ListenerSettings;

const NONE: u64 = u64::MAX;

/// What the listener knows of one connection.
#[derive(Debug)]
struct ConnState {
    epoch: Instant,
    /// Milliseconds since `epoch` of the last byte read.
    last_read: AtomicU64,
    /// Milliseconds since `epoch` of the first byte of a request head not yet complete.
    head_since: AtomicU64,
    in_service: AtomicU32,
    reading_body: AtomicU32,
    close: Notify,
}

impl ConnState {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn read(&self) {
        let now = self.now_ms();
        self.last_read.store(now, Ordering::Relaxed);
        if self.in_service.load(Ordering::Relaxed) == 0 {
            let _ =
                self.head_since
                    .compare_exchange(NONE, now, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// Whether it may be closed to make room: no request in progress, or a body being read.
    fn evictable(&self) -> bool {
        self.in_service.load(Ordering::Relaxed) == 0
            || self.reading_body.load(Ordering::Relaxed) > 0
    }
}

/// A connection's state, handed to the handlers in the request's extensions.
#[derive(Debug, Clone)]
pub struct ConnHandle(Arc<ConnState>);

/// Marks a body being read while it lives.
pub struct ReadingBody(Arc<ConnState>);

impl ConnHandle {
    pub fn reading_body(&self) -> ReadingBody {
        self.0.reading_body.fetch_add(1, Ordering::Relaxed);
        ReadingBody(self.0.clone())
    }
}

impl Drop for ReadingBody {
    fn drop(&mut self) {
        self.0.reading_body.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The open connections.
struct Registry {
    /// The clock of every connection's times, so that they compare.
    epoch: Instant,
    conns: Mutex<HashMap<u64, Arc<ConnState>>>,
    changed: Notify,
}

impl Registry {
    fn len(&self) -> usize {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            conns: Mutex::default(),
            changed: Notify::new(),
        }
    }

    /// Asks the connection idle or stalled longest (by its last byte read, or its acceptance)
    /// to close; whether there was one. Of connections idle since the same millisecond, the
    /// one accepted first: never, by the map's order, the one just accepted for the host.
    fn evict_one(&self) -> bool {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let victim = conns
            .iter()
            .filter(|(_, c)| c.evictable())
            .min_by_key(|(id, c)| (c.last_read.load(Ordering::Relaxed), **id));
        match victim {
            Some((_, c)) => {
                c.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Counts a request in service while it lives (the hyper service's future holds it).
struct InService(Arc<ConnState>);

impl Drop for InService {
    fn drop(&mut self) {
        self.0.in_service.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The router as a hyper service that tells the connection's state when a request is in service.
#[derive(Clone)]
struct Counted {
    inner: TowerToHyperService<Router>,
    state: Arc<ConnState>,
}

impl hyper::service::Service<Request<Incoming>> for Counted {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        self.state.in_service.fetch_add(1, Ordering::Relaxed);
        self.state.head_since.store(NONE, Ordering::Relaxed);
        let guard = InService(self.state.clone());
        req.extensions_mut().insert(ConnHandle(self.state.clone()));
        let fut = self.inner.call(req);
        Box::pin(async move {
            let response = fut.await;
            drop(guard);
            response
        })
    }
}

/// A socket that tells its connection's state when bytes arrive.
struct Watched {
    stream: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` until `stop` resolves, then lets the requests in progress end.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ListenerSettings,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let registry = Arc::new(Registry::new());
    let (stopping, _) = watch::channel(false);
    let mut stop = std::pin::pin!(stop);
    let mut next_id = 0u64;
    loop {
        while registry.len() >= settings.max_connections {
            let evicted = registry.evict_one();
            let wait = tokio::time::timeout(Duration::from_secs(1), registry.changed.notified());
            tokio::select! {
                _ = wait => {}
                _ = &mut stop => return drain(&registry, &stopping).await,
            }
            if !evicted {
                tracing::warn!(
                    connections = settings.max_connections,
                    "SERVE_MAX_CONNECTIONS reached, every connection busy: not accepting"
                );
            }
        }
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of descriptors or the like: wait a little rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => return drain(&registry, &stopping).await,
        };
        next_id += 1;
        let accepted = registry.epoch.elapsed().as_millis() as u64;
        let state = Arc::new(ConnState {
            epoch: registry.epoch,
            last_read: AtomicU64::new(accepted),
            head_since: AtomicU64::new(NONE),
            in_service: AtomicU32::new(0),
            reading_body: AtomicU32::new(0),
            close: Notify::new(),
        });
        registry
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(next_id, state.clone());
        let service = Counted {
            inner: TowerToHyperService::new(router.clone()),
            state: state.clone(),
        };
        let (registry, stopping) = (registry.clone(), stopping.subscribe());
        tokio::spawn(async move {
            connection(stream, service, state, settings, stopping).await;
            registry
                .conns
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&next_id);
            registry.changed.notify_waiters();
        });
    }
}

/// Stops accepting and waits for every connection to end its request in progress.
async fn drain(registry: &Registry, stopping: &watch::Sender<bool>) -> std::io::Result<()> {
    let _ = stopping.send(true);
    while registry.len() > 0 {
        let _ = tokio::time::timeout(Duration::from_millis(100), registry.changed.notified()).await;
    }
    Ok(())
}

/// Why a connection is closed by the watchdog.
fn overdue(state: &ConnState, settings: &ListenerSettings) -> Option<&'static str> {
    let now = state.now_ms();
    let ms = |d: Duration| d.as_millis() as u64;
    let head = state.head_since.load(Ordering::Relaxed);
    let busy = state.in_service.load(Ordering::Relaxed) > 0;
    if !busy && head != NONE && now.saturating_sub(head) > ms(settings.header_timeout) {
        return Some("request headers not complete within SERVE_HEADER_TIMEOUT_SECS");
    }
    let idle_for = now.saturating_sub(state.last_read.load(Ordering::Relaxed));
    if !busy && head == NONE && idle_for > ms(settings.idle_timeout) {
        return Some("idle longer than SERVE_IDLE_TIMEOUT_SECS");
    }
    None
}

async fn connection(
    stream: TcpStream,
    service: Counted,
    state: Arc<ConnState>,
    settings: ListenerSettings,
    mut stopping: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Watched {
        stream,
        state: state.clone(),
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let tick = settings.header_timeout.min(Duration::from_secs(1));
    let mut graceful = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = state.close.notified() => {
                tracing::debug!("connection closed to make room (SERVE_MAX_CONNECTIONS)");
                return;
            }
            _ = stopping.changed(), if !graceful => {
                graceful = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep(tick) => {
                if let Some(why) = overdue(&state, &settings) {
                    tracing::debug!(why, "connection closed");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ConnState {
        ConnState {
            epoch: Instant::now(),
            last_read: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
            in_service: AtomicU32::new(0),
            reading_body: AtomicU32::new(0),
            close: Notify::new(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn only_an_unfinished_head_or_a_long_idle_connection_is_overdue() {
        let settings = ListenerSettings::default();
        let s = state();
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(
            overdue(&s, &settings),
            None,
            "a pooled connection idle a minute stays"
        );
        s.read();
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(
            overdue(&s, &settings).is_some_and(|w| w.contains("HEADER")),
            "head unfinished"
        );
        s.in_service.store(1, Ordering::Relaxed);
        s.head_since.store(NONE, Ordering::Relaxed);
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(
            overdue(&s, &settings),
            None,
            "a request in service is never cut here"
        );
        s.in_service.store(0, Ordering::Relaxed);
        assert!(overdue(&s, &settings).is_some_and(|w| w.contains("IDLE")));
    }
}
