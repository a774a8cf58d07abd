//! The adm-agent's HTTP server (axum): `POST /v1/exec`, `/v1/kill`,
//! `/v1/ping`, every request signed (see [`super::auth`]). Unauthenticated
//! or replayed requests get 401 and a log line. Plain HTTP ([`serve`]) or
//! HTTPS ([`serve_tls`], rustls).

use super::auth::{Secret, Verifier};
use super::{Frame, Request, serve_request};
use crate::local::Local;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse as _, Response};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Paths of the adm-agent API.
pub const EXEC: &str = "/v1/exec";
/// Kill a running command.
pub const KILL: &str = "/v1/kill";
/// Liveness.
pub const PING: &str = "/v1/ping";
/// Largest request body (the command plus its stdin, base64).
pub const MAX_BODY: usize = 256 * 1024 * 1024;

struct AppState {
    local: Local,
    verifier: Verifier,
    identity: String,
}

/// Serves the adm-agent over plain HTTP on `listener` until the task is
/// dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    secret: Secret,
    local: Local,
    identity: String,
) -> std::io::Result<()> {
    // Small frames (exit status after a short output) must not wait for
    // Nagle's algorithm and the client's delayed ACK (40 ms).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app(secret, local, identity)).await
}

/// Serves the adm-agent over HTTPS (TLS with `tls`, see
/// [`crate::tls::server_config`]) on `listener` until the task is dropped.
/// The requests are signed just as over plain HTTP: TLS adds privacy and
/// the agent's identity, the shared secret still authenticates the client.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    secret: Secret,
    local: Local,
    identity: String,
) -> std::io::Result<()> {
    let listener = super::tls_listener::TlsListener::new(listener, tls)?;
    axum::serve(listener, app(secret, local, identity)).await
}

fn app(secret: Secret, local: Local, identity: String) -> axum::Router {
    let state = Arc::new(AppState {
        local,
        verifier: Verifier::new(secret),
        identity,
    });
    axum::Router::new()
        .route(EXEC, axum::routing::post(handle))
        .route(KILL, axum::routing::post(handle))
        .route(PING, axum::routing::post(handle))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn handle(
    State(st): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(refusal) = st.verifier.verify(method.as_str(), path, header, &body) {
        tracing::warn!(%method, path, %refusal, "adm-agent refused a request");
        return (StatusCode::UNAUTHORIZED, refusal.to_string()).into_response();
    }
    let req = if path == PING {
        Request::Ping
    } else {
        match serde_json::from_slice::<Request>(&body) {
            Ok(r) => r,
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        }
    };
    let (tx, rx) = mpsc::channel::<Frame>(32);
    let st2 = st.clone();
    // The command runs in its own task; when the client disconnects, hyper
    // drops the response body and with it `rx`, which ends the command
    // (see `serve_request`).
    tokio::spawn(async move {
        serve_request(&st2.local, &st2.identity, req, tx).await;
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let frame = rx.recv().await?;
        Some((Ok::<_, std::io::Error>(frame.encode()), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/x-dbagent-frames")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
