//! Connection limits of the adm-agent, below HTTP: how many connections it
//! holds at once (in all, and per peer address) and how long a connection
//! may take to deliver its first request's headers.
//!
//! A connection over a cap is closed as soon as it is accepted (nothing is
//! queued). Every accepted connection carries a deadline
//! ([`ConnLimits::header_timeout`], counted from the accept, TLS handshake
//! included) that closes it unless a request on it has passed the signature
//! check by then ([`ConnAddr::trust`]): a slow-header (slowloris) client or
//! a silent one holds a slot for seconds, not for ever. A refused request's
//! connection is closed after the answer (`connection: close`), so only a
//! connection that carried a signed request stays open between requests.

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use std::collections::HashMap;
use std::future::Future as _;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Default cap on the connections the agent holds at once.
pub const MAX_CONNECTIONS: usize = 512;
/// Default cap on the connections from one peer address at once (above a
/// controller's own `max_concurrent` commands per host, 64 by default).
pub const MAX_CONNECTIONS_PER_PEER: usize = 128;
/// Default time from accept to a request whose signature passed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (out of file descriptors and the like).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The caps and the header deadline.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Connections held at once, all peers together.
    pub max_connections: usize,
    /// Connections held at once from one peer address.
    pub max_per_peer: usize,
    /// Time from accept until a request on the connection passed the
    /// signature check; the connection is closed when it runs out.
    pub header_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: MAX_CONNECTIONS,
            max_per_peer: MAX_CONNECTIONS_PER_PEER,
            header_timeout: HEADER_TIMEOUT,
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_peer: HashMap<IpAddr, usize>,
}

/// Counts the connections held and admits new ones under the caps.
#[derive(Debug, Clone)]
pub struct Admission {
    limits: ConnLimits,
    counts: Arc<Mutex<Counts>>,
}

impl Admission {
    /// Admission under `limits`.
    pub fn new(limits: ConnLimits) -> Admission {
        Admission {
            limits,
            counts: Arc::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> ConnLimits {
        self.limits
    }

    /// A slot for a connection from `peer`, or `None` over a cap.
    pub fn admit(&self, peer: IpAddr) -> Option<Permit> {
        let mut counts = self.lock();
        let mine = counts.per_peer.get(&peer).copied().unwrap_or(0);
        if counts.total >= self.limits.max_connections || mine >= self.limits.max_per_peer {
            return None;
        }
        counts.total += 1;
        counts.per_peer.insert(peer, mine + 1);
        Some(Permit {
            counts: self.counts.clone(),
            peer,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wraps an admitted connection: its permit and its header deadline.
    pub fn guard<IO>(
        &self,
        io: IO,
        permit: Permit,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> (Guarded<IO>, ConnAddr) {
        let trusted = Arc::new(AtomicBool::new(false));
        let addr = ConnAddr {
            peer,
            local,
            trusted: trusted.clone(),
        };
        let guarded = Guarded {
            io,
            _permit: permit,
            trusted,
            deadline: Box::pin(tokio::time::sleep(self.limits.header_timeout)),
        };
        (guarded, addr)
    }
}

/// One connection's slot; given back when dropped (the connection closed).
#[derive(Debug)]
pub struct Permit {
    counts: Arc<Mutex<Counts>>,
    peer: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                counts.per_peer.remove(&self.peer);
            }
        }
    }
}

/// Who a connection is from and where it arrived, plus the switch that
/// lifts its header deadline. Handlers get it as `ConnectInfo<ConnAddr>`.
#[derive(Debug, Clone)]
pub struct ConnAddr {
    /// The client's address.
    pub peer: SocketAddr,
    /// The agent's address the client connected to.
    pub local: SocketAddr,
    trusted: Arc<AtomicBool>,
}

impl ConnAddr {
    /// The address of a connection from `peer` arriving at `local` (not
    /// yet trusted).
    pub fn new(peer: SocketAddr, local: SocketAddr) -> ConnAddr {
        ConnAddr {
            peer,
            local,
            trusted: Arc::default(),
        }
    }

    /// Lifts the connection's header deadline: a request on it passed the
    /// signature check.
    pub fn trust(&self) {
        self.trusted.store(true, Ordering::Relaxed);
    }
}

impl Connected<IncomingStream<'_, GuardedListener>> for ConnAddr {
    fn connect_info(stream: IncomingStream<'_, GuardedListener>) -> Self {
        stream.remote_addr().clone()
    }
}

impl Connected<IncomingStream<'_, crate::tls_listener::TlsListener>> for ConnAddr {
    fn connect_info(stream: IncomingStream<'_, crate::tls_listener::TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A connection under its header deadline; holds its [`Permit`].
#[derive(Debug)]
pub struct Guarded<IO> {
    io: IO,
    _permit: Permit,
    trusted: Arc<AtomicBool>,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<IO> Guarded<IO> {
    /// The connection inside.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.trusted.load(Ordering::Relaxed) && self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no signed request within the header timeout",
            )));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Accepts a TCP connection from `listener` that fits under the caps
/// (others are closed at once), with `TCP_NODELAY` set: small frames (an
/// exit status after a short output) must not wait for Nagle's algorithm
/// and the client's delayed ACK.
pub async fn accept_admitted(
    listener: &TcpListener,
    admission: &Admission,
) -> (TcpStream, Permit, SocketAddr, SocketAddr) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "adm-agent accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some(permit) = admission.admit(peer.ip()) else {
            tracing::debug!(%peer, "connection over the cap closed");
            continue;
        };
        let Ok(local) = tcp.local_addr() else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        return (tcp, permit, peer, local);
    }
}

/// A plain-TCP listener for axum under [`Admission`].
#[derive(Debug)]
pub struct GuardedListener {
    listener: TcpListener,
    admission: Admission,
    local: SocketAddr,
}

impl GuardedListener {
    /// Wraps `listener`.
    pub fn new(listener: TcpListener, limits: ConnLimits) -> io::Result<GuardedListener> {
        Ok(GuardedListener {
            local: listener.local_addr()?,
            listener,
            admission: Admission::new(limits),
        })
    }
}

impl Listener for GuardedListener {
    type Io = Guarded<TcpStream>;
    type Addr = ConnAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (tcp, permit, peer, local) = accept_admitted(&self.listener, &self.admission).await;
        self.admission.guard(tcp, permit, peer, local)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnAddr::new(self.local, self.local))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_peer_and_in_all_and_slots_come_back() {
        let a = Admission::new(ConnLimits {
            max_connections: 3,
            max_per_peer: 2,
            header_timeout: HEADER_TIMEOUT,
        });
        let one: IpAddr = [127, 0, 0, 1].into();
        let two: IpAddr = [127, 0, 0, 2].into();
        let p1 = a.admit(one);
        let p2 = a.admit(one);
        assert!(p1.is_some() && p2.is_some());
        assert!(a.admit(one).is_none(), "per-peer cap");
        let p3 = a.admit(two);
        assert!(p3.is_some());
        assert!(a.admit(two).is_none(), "global cap");
        drop(p1);
        assert!(a.admit(one).is_some(), "a closed connection frees its slot");
    }
}
