//! Fault injection shared by both doubles: failing the next N requests, outages (error
//! answers, hangs, refused connections) for a period, and added latency per request.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// What the service does during an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Answer every request with this status (500, 503, …).
    Status(u16),
    /// Accept requests and never answer them until the outage ends.
    Hang,
    /// Drop new connections at once, and reset open ones on their next read or write.
    Refuse,
}

#[derive(Debug, Default)]
struct State {
    fail_next: VecDeque<u16>,
    latency: Duration,
    outage: Option<(Instant, Outage)>,
}

/// The fault switches of one double. Cheap to share; every request consults it.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<State>,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next `n` requests are answered with `status` (e.g. 500 or 503).
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut s = self.lock();
        s.fail_next.extend(std::iter::repeat_n(status, n));
    }

    /// Every request waits this long before it is handled.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Starts an outage that lasts `duration` from now.
    pub fn outage(&self, kind: Outage, duration: Duration) {
        self.lock().outage = Some((Instant::now() + duration, kind));
    }

    /// Ends outages, pending failures and latency.
    pub fn clear(&self) {
        *self.lock() = State::default();
    }

    fn active_outage(&self) -> Option<(Instant, Outage)> {
        let s = self.lock();
        s.outage.filter(|(until, _)| Instant::now() < *until)
    }

    /// Whether connections are being refused right now.
    pub fn refusing(&self) -> bool {
        matches!(self.active_outage(), Some((_, Outage::Refuse)))
    }

    /// Runs before each request: waits out latency and hangs; returns a status to fail with.
    pub async fn before_request(&self) -> Option<u16> {
        let latency = self.lock().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        loop {
            match self.active_outage() {
                Some((until, Outage::Hang)) => tokio::time::sleep_until(until.into()).await,
                Some((_, Outage::Status(code))) => return Some(code),
                _ => break,
            }
        }
        self.lock().fail_next.pop_front()
    }
}

/// A TCP listener that honours [`Outage::Refuse`].
pub struct FaultyListener {
    inner: TcpListener,
    faults: Arc<Faults>,
}

impl FaultyListener {
    /// Wraps a bound listener.
    pub fn new(inner: TcpListener, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }
}

impl axum::serve::Listener for FaultyListener {
    type Io = FaultyStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((s, a)) if !self.faults.refusing() => {
                    return (
                        FaultyStream {
                            inner: s,
                            faults: self.faults.clone(),
                        },
                        a,
                    );
                }
                // Refused: closing at once is what the client sees of a refusal on loopback.
                Ok(_) => continue,
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that is reset while connections are refused (so pooled keep-alive
/// connections fail too, as they would when a server goes away).
pub struct FaultyStream {
    inner: TcpStream,
    faults: Arc<Faults>,
}

fn reset() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "connection refused by fault injection",
    )
}

impl AsyncRead for FaultyStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.faults.refusing() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultyStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.faults.refusing() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
