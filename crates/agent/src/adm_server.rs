//! The adm-agent's HTTP server (axum): `POST /v1/exec`, `/v1/kill`,
//! `/v1/ping`, every request signed (see [`remote::agent::auth`]). Plain HTTP
//! ([`serve`]) or HTTPS ([`serve_tls`], rustls).
//!
//! What a request goes through, in order, each refusal answered at once
//! with `connection: close` and logged:
//!
//! 1. the connection caps and the header deadline ([`crate::conn_guard`]);
//! 2. a `content-length` (411 without) within the path's cap
//!    ([`max_body`]; 413 above);
//! 3. the signature headers: format, clock window, signature over the body
//!    digest, host, replay (401; 421 for a request meant for another
//!    host) — no byte of the body is read before they pass;
//! 4. the body, read within [`BODY_TIMEOUT`] (408) and its cap, and checked
//!    against the signed digest (401).

use crate::conn_guard::{ConnAddr, ConnLimits, GuardedListener};
use crate::refusal_log::RefusalLog;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use remote::Local;
use remote::agent::auth::{Refusal, Secret, Signed, Verifier};
use remote::agent::{Frame, Request, serve_request};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

pub use remote::agent::{EXEC, KILL, PING};
/// Largest `exec` body: the command plus its stdin (JSON, a byte array).
/// Stdin legitimately carries files the tools write on a host (a backup's
/// `manifest.json` and small files, option files, scripts), a few MiB at
/// most; the JSON form takes up to ~4 bytes per stdin byte.
pub const MAX_EXEC_BODY: usize = 64 * 1024 * 1024;
/// Largest `kill` and `ping` body (a command id, or nothing).
pub const MAX_SMALL_BODY: usize = 64 * 1024;
/// Time to receive a signed request's body once its headers passed.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest body accepted on `path`.
pub fn max_body(path: &str) -> usize {
    if path == EXEC {
        MAX_EXEC_BODY
    } else {
        MAX_SMALL_BODY
    }
}

/// How the adm-agent is reached and guarded.
#[derive(Debug, Clone, Default)]
pub struct AdmOptions {
    /// Connection caps and the header deadline.
    pub limits: ConnLimits,
    /// Names and addresses controllers may address this host by, besides
    /// the address a request arrives at (see [`remote::agent::auth::host_tag`]).
    pub host_ids: Vec<String>,
}

struct AppState {
    local: Local,
    verifier: Verifier,
    identity: String,
    refusals: RefusalLog,
}

/// Serves the adm-agent over plain HTTP on `listener` until the task is
/// dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    secret: Secret,
    local: Local,
    identity: String,
    options: AdmOptions,
) -> std::io::Result<()> {
    let listener = GuardedListener::new(listener, options.limits)?;
    let app = app(secret, local, identity, &options.host_ids);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<ConnAddr>(),
    )
    .await
}

/// Serves the adm-agent over HTTPS (TLS with `tls`, see
/// [`remote::tls::server_config`]) on `listener` until the task is dropped.
/// The requests are signed just as over plain HTTP: TLS adds privacy and
/// the agent's identity, the shared secret still authenticates the client.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    secret: Secret,
    local: Local,
    identity: String,
    options: AdmOptions,
) -> std::io::Result<()> {
    let listener = crate::tls_listener::TlsListener::new(listener, tls, options.limits)?;
    let app = app(secret, local, identity, &options.host_ids);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<ConnAddr>(),
    )
    .await
}

fn app(secret: Secret, local: Local, identity: String, host_ids: &[String]) -> axum::Router {
    let state = Arc::new(AppState {
        local,
        verifier: Verifier::new(secret, host_ids),
        identity,
        refusals: RefusalLog::new("adm-agent"),
    });
    axum::Router::new()
        .route(EXEC, axum::routing::post(handle))
        .route(KILL, axum::routing::post(handle))
        .route(PING, axum::routing::post(handle))
        .fallback(|| async { refuse(StatusCode::NOT_FOUND, "no such path") })
        .with_state(state)
}

/// An answer that ends the connection.
fn refuse(status: StatusCode, why: &str) -> Response {
    (status, [(header::CONNECTION, "close")], why.to_owned()).into_response()
}

fn refusal_status(refusal: &Refusal) -> StatusCode {
    match refusal {
        Refusal::OtherHost => StatusCode::MISDIRECTED_REQUEST,
        _ => StatusCode::UNAUTHORIZED,
    }
}

async fn handle(
    State(st): State<Arc<AppState>>,
    ConnectInfo(conn): ConnectInfo<ConnAddr>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let body = match admit(&st, &conn, &parts.method, path, &parts.headers, body).await {
        Ok(body) => body,
        Err((status, why)) => {
            if st.refusals.admit() {
                tracing::warn!(method = %parts.method, path, peer = %conn.peer, %status, why, "adm-agent refused a request");
            }
            return refuse(status, &why);
        }
    };
    let req = if path == PING {
        Request::Ping
    } else {
        match serde_json::from_slice::<Request>(&body) {
            Ok(r) => r,
            Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
        }
    };
    run(st, req)
}

/// Steps 2 to 4 of the module docs: the body of a request that passed.
async fn admit(
    st: &AppState,
    conn: &ConnAddr,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, (StatusCode, String)> {
    let cap = max_body(path);
    let length = declared_length(headers)?;
    if length > cap as u64 {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a body of {length} bytes is over the {cap}-byte limit of {path}"),
        ));
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed: Signed = st
        .verifier
        .verify_head(method.as_str(), path, header, Some(conn.local.ip()))
        .map_err(|r| (refusal_status(&r), r.to_string()))?;
    conn.trust();
    let body = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, cap)).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return Err((StatusCode::BAD_REQUEST, format!("reading the body: {e}"))),
        Err(_) => {
            return Err((
                StatusCode::REQUEST_TIMEOUT,
                format!("the body took longer than {} s", BODY_TIMEOUT.as_secs()),
            ));
        }
    };
    signed
        .check_body(&body)
        .map_err(|r| (refusal_status(&r), r.to_string()))?;
    Ok(body)
}

/// The request's `content-length`; a body of unknown length (chunked) is
/// refused, so its size is known before anything is read.
fn declared_length(headers: &HeaderMap) -> Result<u64, (StatusCode, String)> {
    let length = || {
        (
            StatusCode::LENGTH_REQUIRED,
            "a content-length header is required".to_owned(),
        )
    };
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return Err(length());
    }
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(0),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(length),
    }
}

/// Runs an admitted request, streaming its frames as the response body.
fn run(st: Arc<AppState>, req: Request) -> Response {
    let (tx, rx) = mpsc::channel::<Frame>(32);
    // The command runs in its own task; when the client disconnects, hyper
    // drops the response body and with it `rx`, which ends the command
    // (see `serve_request`).
    tokio::spawn(async move {
        serve_request(&st.local, &st.identity, req, tx).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_depend_on_the_path() {
        assert_eq!(max_body(EXEC), MAX_EXEC_BODY);
        assert_eq!(max_body(PING), MAX_SMALL_BODY);
        assert_eq!(max_body(KILL), MAX_SMALL_BODY);
    }
}
