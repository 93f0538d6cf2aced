//! The accepted client connections, as `serve` hands them to axum: at most
//! `server.limits.max_connections` open at once, `TCP_NODELAY` on, each request's head due
//! within `server.header_read_timeout_ms`, and closed once idle for `server.keep_alive_secs`.
//!
//! A connection beyond the cap is accepted and closed at once rather than left in the
//! kernel's accept queue: the client learns immediately (a load balancer can retry
//! elsewhere), and accept keeps draining the queue so a freed slot goes to a fresh client.
//!
//! Both timeouts live here, in a stream wrapper that fails its pending read (or write: a
//! client that stops reading its response is idle too) once a deadline passes; hyper then
//! closes the connection as if the client had gone away. axum's `serve`
//! gives no access to hyper's builder, and hyper's own `header_read_timeout` also runs while
//! a kept-alive connection waits for its next request, which would cap keep-alive at the
//! header timeout. Here the head timer starts when the connection opens and, on a kept-alive
//! connection, at the next request's first byte; it stops when the request middleware
//! (`http::track`) sees the parsed request. The two share a [`ConnPhase`], handed to the
//! middleware as axum's `ConnectInfo`. The idle limit is never shorter than the request
//! deadline, so a slow request in flight is ended by its deadline (with an answer), not by
//! the idle timer.

use crate::metrics::{ConnectionDrop, ConnectionMetrics, OpenConnection};
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// The limits every client connection is held to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    /// Closed after this long with no byte moving.
    pub(crate) idle: Duration,
    /// A request head must arrive within this.
    pub(crate) header: Duration,
    /// Open connections at most.
    pub(crate) max_connections: usize,
}

/// A TCP listener whose connections are capped in number, have `TCP_NODELAY` and the
/// timeouts of [`ConnLimits`].
pub(crate) struct ClientListener {
    inner: TcpListener,
    limits: ConnLimits,
    slots: Arc<Semaphore>,
    metrics: ConnectionMetrics,
}

impl ClientListener {
    pub(crate) fn new(inner: TcpListener, limits: ConnLimits, metrics: ConnectionMetrics) -> Self {
        let slots = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            inner,
            limits,
            slots: Arc::new(Semaphore::new(slots)),
            metrics,
        }
    }
}

impl Listener for ClientListener {
    type Io = ClientConn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // axum's own accept loop for TcpListener (it waits out EMFILE and the like).
            let (stream, addr) = Listener::accept(&mut self.inner).await;
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                // Dropping the stream closes it.
                self.metrics.dropped(ConnectionDrop::OverLimit);
                tracing::debug!(
                    peer = %addr,
                    max = self.limits.max_connections,
                    "connection limit reached: closing a new connection"
                );
                continue;
            };
            // Without TCP_NODELAY a small response written after another small write waits
            // for the client's delayed ACK (up to 40 ms): a latency cliff on keep-alive
            // connections.
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
            }
            let open = Open {
                _slot: slot,
                _counted: self.metrics.opened(),
            };
            let conn = ClientConn::new(stream, addr, self.limits, open, self.metrics.clone());
            return (conn, addr);
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Where a connection is in its request cycle, shared by the connection and the request
/// middleware, and who is at the other end (per-address limits use it).
#[derive(Debug, Clone)]
pub(crate) struct ConnPhase {
    state: Arc<AtomicU8>,
    pub(crate) peer: SocketAddr,
}

/// Waiting for a request head that has begun (or for the first one): the head timer runs.
const HEAD: u8 = 0;
/// A request has been parsed and is being served (its body is the handler's to time).
const SERVING: u8 = 1;
/// Between requests: only the idle timer runs.
const IDLE: u8 = 2;
/// Upgraded to a WebSocket: no request heads any more, only the idle timer runs.
const UPGRADED: u8 = 3;

impl ConnPhase {
    fn new(peer: SocketAddr) -> Self {
        Self {
            state: Arc::new(AtomicU8::new(HEAD)),
            peer,
        }
    }

    /// Marks the request as parsed; the connection is back between requests once the
    /// returned guard drops (also when the request is cancelled).
    pub(crate) fn serving(&self) -> Serving {
        self.state.store(SERVING, Ordering::Release);
        Serving(self.clone())
    }

    /// The connection becomes a WebSocket: the bytes that follow are frames, not heads.
    pub(crate) fn upgraded(&self) {
        self.state.store(UPGRADED, Ordering::Release);
    }

    /// Bytes arrived: if the connection was between requests, a new head has begun.
    fn begin_head(&self) -> bool {
        self.state
            .compare_exchange(IDLE, HEAD, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn in_head(&self) -> bool {
        self.state.load(Ordering::Acquire) == HEAD
    }
}

/// Puts the connection back between requests when dropped.
pub(crate) struct Serving(ConnPhase);

impl Drop for Serving {
    fn drop(&mut self) {
        // An upgraded connection stays upgraded.
        let _ = self
            .0
            .state
            .compare_exchange(SERVING, IDLE, Ordering::AcqRel, Ordering::Acquire);
    }
}

impl Connected<IncomingStream<'_, ClientListener>> for ConnPhase {
    fn connect_info(stream: IncomingStream<'_, ClientListener>) -> Self {
        stream.io().phase.clone()
    }
}

/// What a connection holds while it is open: its slot under the cap and its gauge count.
struct Open {
    _slot: OwnedSemaphorePermit,
    _counted: OpenConnection,
}

/// A client connection that fails its pending read or write once its request head is
/// overdue or no byte has moved (either way) for the idle limit.
pub(crate) struct ClientConn {
    inner: TcpStream,
    limits: ConnLimits,
    phase: ConnPhase,
    /// When a byte was last read or written.
    active: Instant,
    /// When the current request head began (the connection opening, or its first byte).
    head_since: Instant,
    /// Armed for the nearest deadline; moved lazily (only when it fires early or the
    /// deadline changes), so that reads and writes cost one clock read, not a timer update.
    timer: Pin<Box<Sleep>>,
    metrics: ConnectionMetrics,
    _open: Open,
}

impl ClientConn {
    fn new(
        inner: TcpStream,
        peer: SocketAddr,
        limits: ConnLimits,
        open: Open,
        metrics: ConnectionMetrics,
    ) -> Self {
        let now = Instant::now();
        Self {
            inner,
            limits,
            phase: ConnPhase::new(peer),
            active: now,
            head_since: now,
            timer: Box::pin(tokio::time::sleep_until(now + limits.idle)),
            metrics,
            _open: open,
        }
    }

    fn touched<T>(&mut self, r: &Poll<io::Result<T>>) {
        if matches!(r, Poll::Ready(Ok(_))) {
            self.active = Instant::now();
        }
    }

    /// The nearest deadline and what passing it means.
    fn deadline(&self) -> (Instant, ConnectionDrop) {
        let idle = self.active + self.limits.idle;
        let head = self.head_since + self.limits.header;
        if self.phase.in_head() && head < idle {
            (head, ConnectionDrop::HeaderTimeout)
        } else {
            (idle, ConnectionDrop::IdleTimeout)
        }
    }

    /// Which deadline has passed, if one has; otherwise the timer is armed for the nearest
    /// one and will wake the reader.
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<ConnectionDrop> {
        let (deadline, why) = self.deadline();
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        if self.timer.as_mut().poll(cx).is_pending() {
            return None;
        }
        Some(why)
    }

    /// The error that ends a pending read or write once a deadline has passed (hyper then
    /// closes the connection); counted once, since the connection ends with it.
    fn timed_out(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        let why = self.expired(cx)?;
        self.metrics.dropped(why);
        let message = match why {
            ConnectionDrop::HeaderTimeout => {
                "request head not received within server.header_read_timeout_ms"
            }
            _ => "connection idle past server.keep_alive_secs",
        };
        Some(io::Error::new(io::ErrorKind::TimedOut, message))
    }
}

impl AsyncRead for ClientConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.touched(&r);
        if buf.filled().len() > before && this.phase.begin_head() {
            this.head_since = this.active;
        }
        if r.is_pending() {
            if let Some(e) = this.timed_out(cx) {
                return Poll::Ready(Err(e));
            }
        }
        r
    }
}

impl AsyncWrite for ClientConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.touched(&r);
        // A client that stops reading its response is as idle as one that stops sending.
        if r.is_pending() {
            if let Some(e) = this.timed_out(cx) {
                return Poll::Ready(Err(e));
            }
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.touched(&r);
        if r.is_pending() {
            if let Some(e) = this.timed_out(cx) {
                return Poll::Ready(Err(e));
            }
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn bind(idle_ms: u64, header_ms: u64, max: usize) -> (ClientListener, SocketAddr) {
        let inner = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = inner.local_addr().expect("addr");
        let limits = ConnLimits {
            idle: Duration::from_millis(idle_ms),
            header: Duration::from_millis(header_ms),
            max_connections: max,
        };
        let metrics = Metrics::new().expect("metrics").connections;
        (ClientListener::new(inner, limits, metrics), addr)
    }

    /// Echoes every connection; with `serve`, marks the first read as a parsed request
    /// (what the request middleware does) and holds it as being served.
    fn echo(mut listener: ClientListener, serve: bool) {
        tokio::spawn(async move {
            loop {
                let (mut io, _) = listener.accept().await;
                tokio::spawn(async move {
                    let mut buf = [0u8; 16];
                    let mut serving = None;
                    loop {
                        match io.read(&mut buf).await {
                            Ok(0) | Err(_) => return, // dropping `io` closes the connection
                            Ok(n) => {
                                if serve && serving.is_none() {
                                    serving = Some(io.phase.serving());
                                }
                                io.write_all(&buf[..n]).await.expect("echo");
                            }
                        }
                    }
                });
            }
        });
    }

    async fn closed_within(client: &mut TcpStream, limit: Duration) -> bool {
        let mut buf = [0u8; 16];
        let r = tokio::time::timeout(limit, client.read(&mut buf)).await;
        matches!(r, Ok(Ok(0)) | Ok(Err(_)))
    }

    /// The connection stays open while bytes move, and is closed once it has been quiet
    /// for the limit.
    #[tokio::test]
    async fn idle_connections_are_closed_busy_ones_are_not() {
        let (listener, addr) = bind(300, 60_000, 10).await;
        echo(listener, true);
        let mut client = TcpStream::connect(addr).await.expect("connect");
        let mut buf = [0u8; 16];
        // Busy for longer than the limit, with pauses shorter than it.
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            client.write_all(b"ping").await.expect("write");
            let n = client.read(&mut buf).await.expect("read");
            assert_eq!(&buf[..n], b"ping");
        }
        // Then quiet: the server closes its side within the limit (plus scheduling slack).
        assert!(closed_within(&mut client, Duration::from_secs(2)).await);
    }

    /// A head that drips in (bytes moving, so never idle) is cut off at the head timeout;
    /// once the request is being served, the head timer no longer applies.
    #[tokio::test]
    async fn dripping_heads_are_cut_off() {
        let (listener, addr) = bind(60_000, 400, 10).await;
        echo(listener, false);
        let mut dripping = TcpStream::connect(addr).await.expect("connect");
        let started = Instant::now();
        let mut buf = [0u8; 16];
        let cut = loop {
            if dripping.write_all(b"G").await.is_err() {
                break true;
            }
            match tokio::time::timeout(Duration::from_millis(100), dripping.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break true,
                _ if started.elapsed() > Duration::from_secs(5) => break false,
                _ => {}
            }
        };
        assert!(cut, "a dripping head was held for 5 s");

        let (listener, addr) = bind(60_000, 400, 10).await;
        echo(listener, true);
        let mut served = TcpStream::connect(addr).await.expect("connect");
        for _ in 0..8 {
            served.write_all(b"x").await.expect("write");
            let n = served.read(&mut buf).await.expect("read");
            assert_eq!(&buf[..n], b"x");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A fresh connection that sends nothing is closed at the head timeout, well before
    /// the idle limit.
    #[tokio::test]
    async fn silent_new_connections_are_closed_at_the_head_timeout() {
        let (listener, addr) = bind(60_000, 300, 10).await;
        echo(listener, true);
        let mut client = TcpStream::connect(addr).await.expect("connect");
        assert!(closed_within(&mut client, Duration::from_secs(3)).await);
    }

    /// Beyond the cap a connection is closed at once; the ones inside it keep working, and
    /// a slot freed by a closed connection is taken by the next.
    #[tokio::test]
    async fn connections_beyond_the_cap_are_closed() {
        let (listener, addr) = bind(60_000, 60_000, 2).await;
        echo(listener, true);
        let mut first = TcpStream::connect(addr).await.expect("connect");
        let mut second = TcpStream::connect(addr).await.expect("connect");
        let mut buf = [0u8; 16];
        for c in [&mut first, &mut second] {
            c.write_all(b"hi").await.expect("write");
            assert_eq!(c.read(&mut buf).await.expect("read"), 2);
        }
        let mut third = TcpStream::connect(addr).await.expect("connect");
        assert!(closed_within(&mut third, Duration::from_secs(2)).await);
        first.write_all(b"ok").await.expect("write");
        assert_eq!(first.read(&mut buf).await.expect("read"), 2);
        drop(second);
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let mut fourth = TcpStream::connect(addr).await.expect("connect");
            if fourth.write_all(b"hi").await.is_ok() && matches!(fourth.read(&mut buf).await, Ok(2))
            {
                break;
            }
            assert!(Instant::now() < deadline, "the freed slot was not reused");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A client that stops reading a long response is closed once the writes have made no
    /// progress for the idle limit, instead of holding the connection and the unsent
    /// response forever.
    #[tokio::test]
    async fn clients_that_stop_reading_are_closed() {
        let (mut listener, addr) = bind(300, 60_000, 10).await;
        let writer = tokio::spawn(async move {
            let (mut io, _) = listener.accept().await;
            let _serving = io.phase.serving();
            let chunk = vec![b'x'; 64 * 1024];
            loop {
                if let Err(e) = io.write_all(&chunk).await {
                    return e.kind();
                }
            }
        });
        let _client = TcpStream::connect(addr).await.expect("connect");
        let ended = tokio::time::timeout(Duration::from_secs(10), writer).await;
        assert!(
            matches!(ended, Ok(Ok(io::ErrorKind::TimedOut))),
            "the writer was not stopped: {ended:?}"
        );
    }
}
