//! The accepted client connections, as `serve` hands them to axum: `TCP_NODELAY` on, and
//! closed once they have been idle for `server.keep_alive_secs`.
//!
//! hyper has no idle timeout of its own (its header-read timeout is a different thing), so
//! each connection is wrapped in a stream that remembers when bytes last moved and, once a
//! pending read has waited past the limit, fails it; hyper then closes the connection as
//! if the client had gone away. The limit is never shorter than the request deadline, so a
//! slow request in flight is ended by its deadline (with an answer), not by the idle timer.

use axum::serve::Listener;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// A TCP listener whose connections have `TCP_NODELAY` and an idle timeout.
pub(crate) struct ClientListener {
    inner: TcpListener,
    idle: Duration,
}

impl ClientListener {
    pub(crate) fn new(inner: TcpListener, idle: Duration) -> Self {
        Self { inner, idle }
    }
}

impl Listener for ClientListener {
    type Io = IdleTimeout;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept loop for TcpListener (it waits out EMFILE and the like).
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        // Without TCP_NODELAY a small response written after another small write waits for
        // the client's delayed ACK (up to 40 ms): a latency cliff on keep-alive connections.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
        }
        (IdleTimeout::new(stream, self.idle), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A client connection that fails its pending read once no byte has moved for `idle`.
pub(crate) struct IdleTimeout {
    inner: TcpStream,
    idle: Duration,
    /// When a byte was last read or written.
    active: Instant,
    /// Armed for `active + idle`; moved forward lazily (only when it fires early), so that
    /// reads and writes cost one clock read, not a timer update.
    timer: Pin<Box<Sleep>>,
}

impl IdleTimeout {
    fn new(inner: TcpStream, idle: Duration) -> Self {
        let now = Instant::now();
        Self {
            inner,
            idle,
            active: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
        }
    }

    fn touched<T>(&mut self, r: &Poll<io::Result<T>>) {
        if matches!(r, Poll::Ready(Ok(_))) {
            self.active = Instant::now();
        }
    }

    /// Whether the connection has been idle too long; otherwise the timer is armed for the
    /// current deadline and will wake the reader.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            let deadline = self.active + self.idle;
            if self.timer.deadline() != deadline {
                self.timer.as_mut().reset(deadline);
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            if Instant::now() >= self.active + self.idle {
                return true;
            }
        }
    }
}

impl AsyncRead for IdleTimeout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.touched(&r);
        if r.is_pending() && this.expired(cx) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle past server.keep_alive_secs",
            )));
        }
        r
    }
}

impl AsyncWrite for IdleTimeout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.touched(&r);
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An echo server over `ClientListener`: the connection stays open while bytes move,
    /// and is closed once it has been quiet for the limit.
    #[tokio::test]
    async fn idle_connections_are_closed_busy_ones_are_not() {
        let inner = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = inner.local_addr().expect("addr");
        let mut listener = ClientListener::new(inner, Duration::from_millis(300));
        tokio::spawn(async move {
            let (mut io, _) = listener.accept().await;
            let mut buf = [0u8; 16];
            loop {
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => return, // dropping `io` closes the connection
                    Ok(n) => io.write_all(&buf[..n]).await.expect("echo"),
                }
            }
        });
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
        let closed = tokio::time::timeout(Duration::from_secs(2), client.read(&mut buf)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "idle connection not closed: {closed:?}"
        );
    }
}
