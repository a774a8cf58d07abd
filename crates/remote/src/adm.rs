//! The adm-agent transport: HTTP to a `dbagent adm` on each host at the
//! configured port (`[adm-agent] port` in the seeds' configs), every request
//! signed with the shared secret (see [`crate::agent::auth`]).

use crate::agent::adm_server::{EXEC, KILL, PING};
use crate::agent::auth::Secret;
use crate::agent::{Request, decode_stream, demux, ended_early};
use crate::command::Command;
use crate::error::{Error, Result};
use crate::transport::{CommandId, Running, Transport};
use futures::TryStreamExt as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

const KIND: &str = "adm-agent";

/// How to reach the adm-agents.
#[derive(Debug, Clone)]
pub struct AdmConfig {
    /// The agents' port.
    pub port: u16,
    /// The shared secret.
    pub secret: Secret,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// At most this many commands at once per host.
    pub max_concurrent: usize,
}

impl AdmConfig {
    /// Port and secret with default limits.
    pub fn new(port: u16, secret: Secret) -> Self {
        Self {
            port,
            secret,
            connect_timeout: Duration::from_secs(5),
            max_concurrent: 64,
        }
    }
}

/// Commands on one host through its adm-agent.
#[derive(Debug, Clone)]
pub struct Adm {
    host: String,
    cfg: Arc<AdmConfig>,
    client: reqwest::Client,
    limit: Arc<Semaphore>,
}

impl Adm {
    /// A transport to the agent on `host`.
    pub fn new(host: impl Into<String>, cfg: AdmConfig) -> Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Invalid {
                what: "adm-agent client".into(),
                detail: e.to_string(),
            })?;
        Ok(Self {
            host: host.into(),
            limit: Arc::new(Semaphore::new(cfg.max_concurrent.max(1))),
            cfg: Arc::new(cfg),
            client,
        })
    }

    fn url(&self, path: &str) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}{path}", self.host, self.cfg.port)
        } else {
            format!("http://{}:{}{path}", self.host, self.cfg.port)
        }
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
            for (k, v) in self.cfg.secret.sign("POST", path, &body) {
                builder = builder.header(k, v);
            }
            match builder.body(body.clone()).send().await {
                Ok(r) => break r,
                // Nothing was sent over a connection that failed to open:
                // one retry covers an agent that is just restarting.
                Err(e) if e.is_connect() && attempt == 0 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    tracing::debug!(host = %self.host, error = %e, "adm-agent connect failed; retrying once");
                }
                Err(e) => {
                    return Err(Error::Unreachable {
                        host: self.host.clone(),
                        transport: KIND,
                        detail: format!("{e}"),
                    });
                }
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
        let host = self.host.clone();
        let program = cmd.name().to_owned();
        let id_text = id.0.clone();
        let d = demux(id, move |last| {
            drop(permit);
            match last {
                Some(Ok(code)) => Ok(code),
                Some(Err(w)) => Err(Error::from_wire(
                    w, &host, KIND, &program, timeout, &id_text,
                )),
                None => Err(ended_early(&host, KIND, &program)),
            }
        });
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
