//! A TLS listener for the adm-agent's axum server.
//!
//! TLS handshakes run in their own tasks (one slow or silent client must
//! not hold up the others) and finished connections are handed to axum
//! through a channel. A client that speaks plain HTTP to the TLS port gets
//! a plain-text `400` saying so, instead of a TLS alert it cannot read, so
//! a controller missing `tls-ca-file` sees a clear error.

use crate::conn_guard::{Admission, ConnAddr, ConnLimits, Guarded, accept_admitted};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first byte of every TLS connection (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What a plain-HTTP client reads from the TLS port.
pub const PLAIN_HTTP_ANSWER: &str = "this adm-agent serves HTTPS only: give the client the CA \
certificate of the agent's TLS certificate ([adm-agent] tls-ca-file)";

/// A TLS connection under the connection limits (see [`crate::conn_guard`]).
pub type GuardedTls = TlsStream<Guarded<TcpStream>>;

/// Accepts TCP connections under the connection caps and yields them once
/// their TLS handshake is done.
pub struct TlsListener {
    incoming: mpsc::Receiver<(GuardedTls, ConnAddr)>,
    local: std::net::SocketAddr,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Wraps `listener`; handshakes with `config`; admits connections
    /// under `limits`.
    pub fn new(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        limits: ConnLimits,
    ) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, incoming) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept_loop(
            listener,
            tokio_rustls::TlsAcceptor::from(config),
            Admission::new(limits),
            tx,
        ));
        Ok(TlsListener {
            incoming,
            local,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = GuardedTls;
    type Addr = ConnAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(conn) => conn,
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(ConnAddr::new(self.local, self.local))
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    admission: Admission,
    tx: mpsc::Sender<(GuardedTls, ConnAddr)>,
) {
    loop {
        let (tcp, permit, peer, local) = accept_admitted(&listener, &admission).await;
        let (guarded, addr) = admission.guard(tcp, permit, peer, local);
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(acceptor, guarded)).await {
                Ok(Some(tls)) => {
                    let _ = tx.send((tls, addr)).await;
                }
                Ok(None) => {}
                Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

async fn handshake(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: Guarded<TcpStream>,
) -> Option<GuardedTls> {
    let peer = tcp.get_ref().peer_addr().ok();
    let mut first = [0u8; 1];
    match tcp.get_ref().peek(&mut first).await {
        Ok(1) if first[0] == TLS_HANDSHAKE_RECORD => {}
        Ok(1) => {
            tracing::warn!(peer = ?peer, "plain HTTP on the TLS port refused");
            answer_plain_http(tcp).await;
            return None;
        }
        _ => return None,
    }
    match acceptor.accept(tcp).await {
        Ok(tls) => Some(tls),
        Err(e) => {
            tracing::warn!(peer = ?peer, error = %e, "TLS handshake failed");
            None
        }
    }
}

/// Answers a plain-HTTP request with a 400 that says what is wrong, then
/// reads (a bounded amount of) what the client still sends, so closing the
/// socket does not reset the connection before the client read the answer.
async fn answer_plain_http(mut tcp: Guarded<TcpStream>) {
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{PLAIN_HTTP_ANSWER}",
        PLAIN_HTTP_ANSWER.len()
    );
    if tcp.write_all(answer.as_bytes()).await.is_err() || tcp.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        while total < 16 * 1024 * 1024 {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}
