//! The adm-agent transport: HTTP to a `dbagent adm` on each host at the
//! configured port (`[adm-agent] port` in the seeds' configs), every request
//! signed with the shared secret (see [`crate::agent::auth`]). With
//! [`AdmConfig::tls_ca_file`] set, requests go over HTTPS and the agent
//! must present a certificate issued by that CA for the host's name or
//! address (see [`crate::tls`]); without it, plain HTTP.

use crate::agent::{EXEC, KILL, PING, Request, client_demux, decode_stream, demux, ended_early};
use crate::command::Command;
use crate::error::{Error, Result};
use crate::transport::{CommandId, Running, Transport};
use futures::TryStreamExt as _;
use remote_config::AdmConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

const KIND: &str = "adm-agent";

/// Commands on one host through its adm-agent.
#[derive(Debug, Clone)]
pub struct Adm {
    host: String,
    cfg: Arc<AdmConfig>,
    client: reqwest::Client,
    limit: Arc<Semaphore>,
}

impl Adm {
    /// A transport to the agent on `host`. Fails when the TLS CA file
    /// cannot be read or holds no certificate (the error names the file).
    pub fn new(host: impl Into<String>, cfg: AdmConfig) -> Result<Self> {
        let invalid = |detail: String| Error::Invalid {
            what: "adm-agent client".into(),
            detail,
        };
        // A preconfigured rustls config in both cases: the HTTP client then
        // needs no process-wide crypto provider.
        let tls = match &cfg.tls_ca_file {
            Some(ca) => crate::tls::client_config(ca).map_err(|e| invalid(e.to_string()))?,
            None => crate::tls::trust_nothing_config()
                .ok_or_else(|| invalid("no TLS protocol version available".into()))?,
        };
        let client = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .use_preconfigured_tls(tls)
            .https_only(cfg.tls_ca_file.is_some())
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            host: host.into(),
            limit: Arc::new(Semaphore::new(cfg.max_concurrent.max(1))),
            cfg: Arc::new(cfg),
            client,
        })
    }

    fn url(&self, path: &str) -> String {
        let scheme = if self.cfg.tls_ca_file.is_some() {
            "https"
        } else {
            "http"
        };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}{path}", self.host, self.cfg.port)
        } else {
            format!("{scheme}://{}:{}{path}", self.host, self.cfg.port)
        }
    }

    /// The error for a request that could not be sent: a TLS failure says
    /// what to fix (it is no transient outage: no retry), the rest is
    /// unreachable.
    fn send_error(&self, e: &reqwest::Error, program: &str) -> Error {
        if let Some(tls) = find_rustls_error(e) {
            return Error::Transport {
                host: self.host.clone(),
                transport: KIND,
                program: program.to_owned(),
                detail: self.explain_tls(tls),
            };
        }
        Error::Unreachable {
            host: self.host.clone(),
            transport: KIND,
            detail: error_chain(e),
        }
    }

    fn explain_tls(&self, e: &rustls::Error) -> String {
        use rustls::CertificateError as C;
        let ca = self
            .cfg
            .tls_ca_file
            .as_ref()
            .map_or_else(|| "(none)".to_owned(), |p| p.display().to_string());
        let what = match e {
            rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
                format!("the agent's certificate is not issued by a CA in {ca}")
            }
            rustls::Error::InvalidCertificate(
                C::NotValidForName | C::NotValidForNameContext { .. },
            ) => format!(
                "the agent's certificate is not valid for the name {:?}",
                self.host
            ),
            rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
                "the agent's certificate has expired".to_owned()
            }
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                "the agent does not speak TLS (is it started with --tls-cert and --tls-key?)"
                    .to_owned()
            }
            _ => "TLS handshake failed".to_owned(),
        };
        format!("{what} ({e})")
    }

    /// Sends a signed request; returns the response body as a reader.
    async fn send(&self, path: &str, req: &Request, program: &str) -> Result<crate::Reader> {
        let body = serde_json::to_vec(req).map_err(|e| Error::Invalid {
            what: "request".into(),
            detail: e.to_string(),
        })?;
        let mut attempt = 0;
        let response = loop {
            let mut builder = self.client.post(self.url(path));
            for (k, v) in self.cfg.secret.sign(&self.host, "POST", path, &body) {
                builder = builder.header(k, v);
            }
            match builder.body(body.clone()).send().await {
                Ok(r) => break r,
                // Nothing was sent over a connection that failed to open:
                // one retry covers an agent that is just restarting.
                Err(e) if e.is_connect() && attempt == 0 && find_rustls_error(&e).is_none() => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    tracing::debug!(host = %self.host, error = %e, "adm-agent connect failed; retrying once");
                }
                Err(e) => return Err(self.send_error(&e, program)),
            }
        };
        match response.status() {
            s if s.is_success() => {}
            reqwest::StatusCode::UNAUTHORIZED => {
                return Err(Error::AuthFailed {
                    host: self.host.clone(),
                    user: "dbagent".into(),
                    transport: KIND,
                    tried: "hmac-sha256 shared secret".into(),
                });
            }
            s => {
                let text = response.text().await.unwrap_or_default();
                return Err(Error::Transport {
                    host: self.host.clone(),
                    transport: KIND,
                    program: program.to_owned(),
                    detail: format!("agent answered {s}: {text}"),
                });
            }
        }
        let stream = response.bytes_stream().map_err(std::io::Error::other);
        Ok(Box::new(tokio_util::io::StreamReader::new(stream)))
    }
}

/// The rustls error somewhere in `e`'s chain of causes. It sits inside
/// nested `io::Error`s, whose `source()` skips the wrapped error itself, so
/// those are unwrapped with `get_ref()`.
fn find_rustls_error(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// `e` and its causes, `: `-separated (reqwest's own message alone is
/// "error sending request for url (...)").
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(err) = cur {
        let part = err.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cur = err.source();
    }
    text
}

#[async_trait::async_trait]
impl Transport for Adm {
    fn host(&self) -> &str {
        &self.host
    }

    fn kind(&self) -> &'static str {
        KIND
    }

    async fn spawn(&self, cmd: &Command, timeout: Option<Duration>) -> Result<Running> {
        let permit = crate::transport::admit(cmd, &self.limit, &self.host, KIND).await?;
        let id = CommandId::random();
        let req = Request::exec(&id, cmd, timeout);
        let body = self.send(EXEC, &req, cmd.name()).await?;
        let d = client_demux(id, &self.host, KIND, cmd.name(), timeout, permit);
        let frames = d.frames;
        let host = self.host.clone();
        tokio::spawn(async move {
            if let Err(e) = decode_stream(body, frames).await {
                tracing::warn!(%host, error = %e, "adm-agent answer broken");
            }
        });
        Ok(d.running)
    }

    async fn kill(&self, id: &CommandId) -> Result<()> {
        let req = Request::Kill { id: id.0.clone() };
        let body = self.send(KILL, &req, "kill").await?;
        let host = self.host.clone();
        let idt = id.0.clone();
        let d = demux(id.clone(), move |last| match last {
            Some(Ok(_)) => Ok(0),
            Some(Err(w)) => Err(Error::from_wire(w, &host, KIND, "kill", None, &idt)),
            None => Err(ended_early(&host, KIND, "kill")),
        });
        let frames = d.frames;
        tokio::spawn(async move {
            let _ = decode_stream(body, frames).await;
        });
        d.running.wait().await.map(drop)
    }

    async fn ping(&self) -> Result<()> {
        let body = self.send(PING, &Request::Ping, "ping").await?;
        let host = self.host.clone();
        let d = demux(CommandId("ping".into()), move |last| match last {
            Some(Ok(code)) => Ok(code),
            _ => Err(ended_early(&host, KIND, "ping")),
        });
        let frames = d.frames;
        tokio::spawn(async move {
            let _ = decode_stream(body, frames).await;
        });
        d.running.wait().await.map(drop)
    }
}
