//! Accepting and keeping connections, for the TLS webhook port and the plain admin port: a cap
//! on open connections (kept below the file-descriptor limit), deadlines for the TLS handshake,
//! the request headers and the idle time between requests, and a drain on shutdown.
//!
//! Written on hyper directly because axum-server has no connection cap and no idle timeout, and
//! turns hyper's header-read timeout off. hyper's own HTTP/1 header timeout would not do either:
//! it also runs while a kept-alive connection waits for its next request, so it would close idle
//! connections as soon as the headers' deadline passed. The deadlines are kept here instead, per
//! connection, from what the connection reads and which requests it has in flight.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use super::metrics::{Closed, Metrics, Port, Refused};
use super::throttle::Throttle;
use super::tls::Reloadable;

/// File descriptors kept free for what is not a webhook connection: the admin port's
/// connections, the files the reloader reads, stderr, the runtime's own.
pub const RESERVED_FDS: u64 = super::admin::MAX_CONNECTIONS as u64 + 64;

/// After an accept error such as EMFILE the listener stays readable; wait before the next try.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Largest HTTP/1 read buffer per connection, which also bounds the request headers. The API
/// server's headers take a few hundred bytes.
const HTTP1_MAX_BUFFER: usize = 64 * 1024;

/// How one port accepts and keeps connections.
#[derive(Clone, Debug)]
pub struct Settings {
    pub port: Port,
    /// `None` serves plain HTTP/1 (the admin port).
    pub tls: Option<Reloadable>,
    pub max_connections: usize,
    pub tls_handshake_timeout: Duration,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub http2_max_concurrent_streams: u32,
}

/// The soft limit on open files, raised to the hard limit first when `raise` is set (as the Go
/// runtime does: the soft default of 1024 is a leftover of `select(2)`).
pub fn fd_limit(raise: bool) -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if raise && limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit = getrlimit(Resource::Nofile);
        }
    }
    limit.current
}

/// `requested`, lowered so that the connections and [`RESERVED_FDS`] fit in `fd_limit`.
pub fn connection_cap(requested: usize, fd_limit: Option<u64>) -> usize {
    let Some(limit) = fd_limit else {
        return requested;
    };
    let room = usize::try_from(limit.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX);
    requested.min(room).max(1)
}

/// Asks a [`Serving`] port to stop: first gracefully, then for good.
#[derive(Clone, Debug, Default)]
struct Stop {
    graceful: CancellationToken,
    force: CancellationToken,
}

/// A port being served; [`Serving::shutdown`] drains it.
pub struct Serving {
    stop: Stop,
    open: Arc<Semaphore>,
    max: u32,
    accept_loop: tokio::task::JoinHandle<()>,
}

/// Accepts connections from `listener` and serves `app` on them until shut down. Must be called
/// within a Tokio runtime, which then runs every connection.
pub fn spawn(listener: TcpListener, app: Router, settings: Settings, metrics: Metrics) -> Serving {
    let max = u32::try_from(settings.max_connections.max(1)).unwrap_or(u32::MAX);
    let open = Arc::new(Semaphore::new(max as usize));
    let stop = Stop::default();
    let port = Arc::new(PortState::new(app, settings, metrics, stop.clone()));
    let accept_loop = tokio::spawn(accept_loop(listener, port, open.clone()));
    Serving {
        stop,
        open,
        max,
        accept_loop,
    }
}

impl Serving {
    /// Stops accepting, lets each connection finish the requests it has (HTTP/1 closes after
    /// the current answer, HTTP/2 sends GOAWAY), and after `grace` closes what is left.
    pub async fn shutdown(self, grace: Duration) {
        self.stop.graceful.cancel();
        let _ = self.accept_loop.await;
        let drained = tokio::time::timeout(grace, self.open.acquire_many(self.max)).await;
        if drained.is_err() {
            let still_open = self.max as usize - self.open.available_permits();
            tracing::warn!(
                still_open,
                "shutdown grace is over: closing the connections still open"
            );
            self.stop.force.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(1), self.open.acquire_many(self.max))
                .await;
        }
    }
}

/// What every connection of one port shares.
struct PortState {
    app: Router,
    settings: Settings,
    metrics: Metrics,
    open_gauge: Gauge,
    stop: Stop,
    http1: auto::Builder<TokioExecutor>,
    http2: auto::Builder<TokioExecutor>,
    refused_log: Throttle,
}

impl PortState {
    fn new(app: Router, settings: Settings, metrics: Metrics, stop: Stop) -> PortState {
        let mut http1 = auto::Builder::new(TokioExecutor::new()).http1_only();
        http1
            .http1()
            .timer(TokioTimer::new())
            // Kept here per connection (see the module doc); hyper's would close idle ones.
            .header_read_timeout(None)
            .keep_alive(true)
            .max_buf_size(HTTP1_MAX_BUFFER);
        let mut http2 = auto::Builder::new(TokioExecutor::new()).http2_only();
        http2
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(settings.http2_max_concurrent_streams);
        PortState {
            app,
            open_gauge: metrics.connections_open(settings.port),
            settings,
            metrics,
            stop,
            http1,
            http2,
            refused_log: Throttle::default(),
        }
    }

    fn refuse(&self, reason: Refused, error: Option<&io::Error>) {
        self.metrics
            .record_connection_refused(self.settings.port, reason);
        if let Some(suppressed) = self.refused_log.allow() {
            let port = self.settings.port.as_str();
            match (reason, error) {
                (Refused::MaxConnections, _) => tracing::warn!(
                    port,
                    max_connections = self.settings.max_connections,
                    suppressed,
                    "refused a connection: --max-connections are open"
                ),
                (_, Some(error)) => tracing::error!(
                    port,
                    %error,
                    reason = reason.as_str(),
                    suppressed,
                    "cannot accept a connection"
                ),
                (_, None) => {}
            }
        }
    }

    fn closed(&self, reason: Closed) {
        self.metrics
            .record_connection_closed(self.settings.port, reason);
        tracing::debug!(
            port = self.settings.port.as_str(),
            reason = reason.as_str(),
            "closed a connection"
        );
    }
}

async fn accept_loop(listener: TcpListener, port: Arc<PortState>, open: Arc<Semaphore>) {
    loop {
        let accepted = tokio::select! {
            biased;
            () = port.stop.graceful.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _peer)) => tcp,
            Err(error) => {
                let out_of_fds = matches!(
                    rustix::io::Errno::from_io_error(&error),
                    Some(rustix::io::Errno::MFILE | rustix::io::Errno::NFILE)
                );
                if out_of_fds {
                    port.refuse(Refused::FdLimit, Some(&error));
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                } else {
                    port.refuse(Refused::AcceptError, Some(&error));
                }
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            // Closing it at once tells the client, and frees the descriptor.
            drop(tcp);
            port.refuse(Refused::MaxConnections, None);
            continue;
        };
        let port = port.clone();
        tokio::spawn(async move {
            port.open_gauge.inc();
            serve_connection(&port, tcp).await;
            port.open_gauge.dec();
            drop(permit);
        });
    }
}

async fn serve_connection(port: &PortState, tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    let Some(tls) = &port.settings.tls else {
        return serve_http(port, tcp, false).await;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
    let handshake = tokio::time::timeout(port.settings.tls_handshake_timeout, acceptor.accept(tcp));
    let stream = tokio::select! {
        // A connection still in its handshake when the drain starts has no request to finish.
        () = port.stop.graceful.cancelled() => return,
        result = handshake => match result {
            Err(_) => return port.closed(Closed::HandshakeTimeout),
            Ok(Err(_)) => return port.closed(Closed::HandshakeFailed),
            Ok(Ok(stream)) => stream,
        },
    };
    let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    serve_http(port, stream, http2).await
}

/// Serves HTTP on an established connection until it ends, a deadline passes, or shutdown.
async fn serve_http<I>(port: &PortState, io: I, http2: bool)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let settings = &port.settings;
    let activity = Arc::new(Activity::new(!http2));
    let io = TokioIo::new(Watched {
        inner: io,
        activity: activity.clone(),
    });
    let app = port.app.clone();
    let tracked = activity.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_flight = tracked.request_started();
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await;
            drop(in_flight);
            response
        }
    });
    let builder = if http2 { &port.http2 } else { &port.http1 };
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        let deadline = activity.deadline(settings);
        let wake_at = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = port.stop.force.cancelled() => return,
            () = port.stop.graceful.cancelled(), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            () = activity.changed.notified() => {}
            () = tokio::time::sleep_until(wake_at.into()), if deadline.is_some() && !closing => {
                match activity.expired(settings) {
                    // A client that does not finish its headers in time gets no answer.
                    Some(Closed::HeaderTimeout) => return port.closed(Closed::HeaderTimeout),
                    Some(reason) => {
                        port.closed(reason);
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    None => {}
                }
            }
        }
    }
}

/// No deadline running, in [`Activity`]'s millisecond fields.
const NONE: u64 = u64::MAX;

/// What a connection's deadlines follow: requests in flight, and when the connection became
/// idle or started receiving a request's headers. Times are milliseconds since `start`.
struct Activity {
    start: Instant,
    /// HTTP/1 only: bytes arriving on an idle connection start the header deadline. (HTTP/2
    /// peers send pings and settings while idle; there the deadline covers the first request.)
    watch_heads: bool,
    in_flight: AtomicUsize,
    head_since: AtomicU64,
    idle_since: AtomicU64,
    /// Wakes the connection's task when a deadline appears.
    changed: Notify,
}

impl Activity {
    fn new(watch_heads: bool) -> Activity {
        Activity {
            start: Instant::now(),
            watch_heads,
            in_flight: AtomicUsize::new(0),
            // Waiting for the first request counts as receiving its headers.
            head_since: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn on_read(&self) {
        if self.watch_heads
            && self.in_flight.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Acquire) == NONE
        {
            self.head_since.store(self.now(), Ordering::Release);
            self.changed.notify_one();
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(NONE, Ordering::Release);
        self.idle_since.store(NONE, Ordering::Release);
        InFlight(self.clone())
    }

    /// The next instant a deadline may pass, if one runs.
    fn deadline(&self, settings: &Settings) -> Option<Instant> {
        let at = |since: u64, limit: Duration| {
            (since != NONE).then(|| self.start + Duration::from_millis(since) + limit)
        };
        let head = at(
            self.head_since.load(Ordering::Acquire),
            settings.header_read_timeout,
        );
        let idle = at(
            self.idle_since.load(Ordering::Acquire),
            settings.idle_timeout,
        );
        match (head, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Which deadline has passed, if one has.
    fn expired(&self, settings: &Settings) -> Option<Closed> {
        let now = Instant::now();
        let passed = |since: u64, limit: Duration| {
            since != NONE && self.start + Duration::from_millis(since) + limit <= now
        };
        if passed(
            self.head_since.load(Ordering::Acquire),
            settings.header_read_timeout,
        ) {
            return Some(Closed::HeaderTimeout);
        }
        let idle = self.in_flight.load(Ordering::Acquire) == 0
            && passed(
                self.idle_since.load(Ordering::Acquire),
                settings.idle_timeout,
            );
        idle.then_some(Closed::IdleTimeout)
    }
}

/// A request being answered on a connection.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle_since.store(self.0.now(), Ordering::Release);
            self.0.changed.notify_one();
        }
    }
}

/// A connection's stream, reporting reads to its [`Activity`].
struct Watched<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.on_read();
        }
        poll
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_leaves_room_below_the_fd_limit() {
        assert_eq!(connection_cap(1024, None), 1024);
        assert_eq!(connection_cap(1024, Some(1_048_576)), 1024);
        assert_eq!(
            connection_cap(1024, Some(1024)),
            1024 - RESERVED_FDS as usize
        );
        assert_eq!(connection_cap(1024, Some(10)), 1);
    }

    fn settings() -> Settings {
        Settings {
            port: Port::Webhook,
            tls: None,
            max_connections: 1,
            tls_handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(120),
            http2_max_concurrent_streams: 8,
        }
    }

    #[test]
    fn a_new_connection_waits_for_headers_then_an_answered_one_for_idle_time() {
        let activity = Arc::new(Activity::new(true));
        let start = activity.start;
        let first = activity.deadline(&settings()).expect("a header deadline");
        assert_eq!(first, start + Duration::from_secs(5));
        let request = activity.request_started();
        assert_eq!(
            activity.deadline(&settings()),
            None,
            "no deadline in flight"
        );
        drop(request);
        let idle = activity.deadline(&settings()).expect("an idle deadline");
        assert!(idle >= start + Duration::from_secs(120));
        // The first byte of the next request starts its header deadline.
        activity.on_read();
        let head = activity.deadline(&settings()).expect("a header deadline");
        assert!(head < idle);
    }

    #[test]
    fn http2_reads_while_idle_start_no_header_deadline() {
        let activity = Arc::new(Activity::new(false));
        drop(activity.request_started());
        activity.on_read();
        let deadline = activity.deadline(&settings()).expect("idle deadline");
        assert!(deadline >= activity.start + Duration::from_secs(120));
    }
}
