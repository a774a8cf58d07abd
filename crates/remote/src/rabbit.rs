//! The rabbit-agent transport: RPC over RabbitMQ (AMQP 0.9.1, `lapin`) to a
//! `dbagent rabbit` on each host.
//!
//! Requests go to the queue `dbagent.<agent-type>.<host>` (agent types as in
//! the seeds: `rds-dbinit`, `rds-taskmanager`) with `reply_to` (one private
//! reply queue per [`Broker`]), `correlation_id` = `message_id` = the command
//! id and an `expiration` so a request nobody picked up dies in the queue.
//! The agent acknowledges a request before running it and remembers the ids
//! it ran, so a redelivered request never runs twice (at most once). Every
//! reply carries `app_id` = the agent's identity
//! (`dbagent/<agent-type>/<host>`), which the client checks.
//!
//! With a secret ([`Broker::with_secret`], `[rabbit-agent] secret-file`)
//! every request is signed with the adm-agent's scheme
//! ([`crate::agent::auth`]): the headers [`crate::agent::auth::TIMESTAMP`],
//! `NONCE` (its second half names the host), `SIGNATURE` and
//! `CONTENT_SHA256` (the body's SHA-256) travel as AMQP headers, and the
//! signed text's method is [`SIGNED_METHOD`] and its path
//! [`signed_path`]: the queue, the message and correlation ids and the
//! `reply_to`, so none of them can be changed in a signed request. An
//! agent started with `--secret-file` refuses requests without a valid
//! signature; one without ignores the headers.
//!
//! Broker URIs: `amqp://`, `amqps://` and the seeds' `rabbit://` (= amqp).
//! The vhost is the path: none, `/` or `//` mean the default vhost `/`;
//! `/name` means `name`; `%2F` encodes a `/` inside a vhost name.

use crate::agent::auth::Secret;
use crate::agent::{Frame, Request, client_demux};
use crate::command::Command;
use crate::error::{Error, Result};
use crate::transport::{CommandId, Running, Transport};
use futures::StreamExt as _;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

mod watch;

const KIND: &str = "rabbit-agent";

/// Message header naming the host a request is meant for (the agent
/// refuses a request naming another host; agents before it ignore it).
pub const HOST_HEADER: &str = "x-dbagent-host";

/// The signed text's method for a rabbit request (an adm request's is its
/// HTTP method, so a signature made for one transport never passes the
/// other's agent).
pub const SIGNED_METHOD: &str = "AMQP";

/// The signed text's path for a rabbit request: the queue it is published
/// to, its `message_id`, `correlation_id` and `reply_to`, each with its
/// length before it, so no two different sets of them give one text.
pub fn signed_path(queue: &str, message_id: &str, correlation_id: &str, reply_to: &str) -> String {
    let mut path = String::from("amqp");
    for part in [queue, message_id, correlation_id, reply_to] {
        path.push_str(&format!(" {}:{part}", part.len()));
    }
    path
}

/// The request queue of `agent_type` on `host`.
pub fn queue_name(agent_type: &str, host: &str) -> String {
    format!("dbagent.{agent_type}.{host}")
}

/// The identity an agent puts in `app_id`.
pub fn identity(agent_type: &str, host: &str) -> String {
    format!("dbagent/{agent_type}/{host}")
}

/// Declares a request queue with the arguments agent and client share.
pub async fn declare_request_queue(channel: &Channel, name: &str) -> lapin::Result<()> {
    channel
        .queue_declare(
            ShortString::from(name),
            QueueDeclareOptions {
                durable: false,
                auto_delete: false,
                exclusive: false,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map(drop)
}

/// A private reply queue on `channel` (exclusive: the broker deletes it
/// when the connection closes, which tells the agents the client is gone)
/// and its consumer (no acks), tagged `tag`.
pub async fn reply_consumer(channel: &Channel, tag: &str) -> lapin::Result<(String, Consumer)> {
    let queue = channel
        .queue_declare(
            ShortString::from(""),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    let name = queue.name().as_str().to_owned();
    let consumer = channel
        .basic_consume(
            ShortString::from(name.as_str()),
            ShortString::from(tag),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok((name, consumer))
}

/// Turns a broker URI as the seeds write it into one lapin accepts, with
/// the vhost rules in the module docs. The result holds the password: do
/// not log it.
pub fn normalize_uri(uri: &str) -> Result<String> {
    let invalid = |detail: &str| Error::Invalid {
        what: "rabbitmq-uri".into(),
        detail: detail.to_owned(),
    };
    let (scheme, rest) = uri
        .trim()
        .split_once("://")
        .ok_or_else(|| invalid("expected amqp://, amqps:// or rabbit://"))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "amqp" | "rabbit" => "amqp",
        "amqps" => "amqps",
        other => return Err(invalid(&format!("unsupported scheme {other:?}"))),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    if authority.rsplit('@').next().is_none_or(str::is_empty) {
        return Err(invalid("no broker host"));
    }
    let vhost_path = match path {
        "" | "/" | "//" => String::new(),
        p => {
            let name = &p[1..];
            if name.contains('/') {
                return Err(invalid("a '/' inside a vhost name must be written %2F"));
            }
            format!("/{name}")
        }
    };
    let mut out = format!("{scheme}://{authority}{vhost_path}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

/// The headers naming `host` as a request's destination, and with a
/// secret its signature (see the module docs).
fn request_headers(host: &str, secret: Option<&Secret>, path: &str, body: &[u8]) -> FieldTable {
    let mut headers = FieldTable::default();
    let mut put = |name: &str, value: &str| {
        headers.insert(
            ShortString::from(name),
            lapin::types::AMQPValue::LongString(value.into()),
        );
    };
    put(HOST_HEADER, host);
    if let Some(secret) = secret {
        for (name, value) in secret.sign(host, SIGNED_METHOD, path, body) {
            put(name, &value);
        }
    }
    headers
}

/// Seconds since the Unix epoch (a request's `timestamp`).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The user name in a broker URI (`guest` when none).
fn uri_user(uri: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    match authority.rsplit_once('@') {
        Some((userinfo, _)) => userinfo.split(':').next().unwrap_or_default().to_owned(),
        None => "guest".into(),
    }
}

/// A connection to the broker shared by every host's transport: one channel,
/// one private reply queue, replies routed by correlation id.
pub struct Broker {
    uri: String,
    secret: Option<Secret>,
    inner: tokio::sync::Mutex<Option<Arc<Link>>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").finish_non_exhaustive()
    }
}

struct Link {
    conn: Connection,
    channel: Channel,
    reply_queue: String,
    pending: Arc<Mutex<HashMap<String, Waiter>>>,
    declared: Mutex<HashSet<String>>,
    /// Counts the consumers of a running command's queue (`watch`).
    probe: watch::Probe,
}

struct Waiter {
    identity: String,
    frames: mpsc::Sender<Frame>,
}

impl Broker {
    /// A broker at `uri` (any form [`normalize_uri`] accepts); connects on
    /// first use.
    pub fn new(uri: &str) -> Result<Arc<Broker>> {
        Broker::with_secret(uri, None)
    }

    /// A broker at `uri` whose requests are signed with `secret` (the
    /// agents' `--secret-file`); `None` sends them unsigned, as [`Broker::new`].
    pub fn with_secret(uri: &str, secret: Option<Secret>) -> Result<Arc<Broker>> {
        Ok(Arc::new(Broker {
            uri: normalize_uri(uri)?,
            secret,
            inner: tokio::sync::Mutex::new(None),
        }))
    }

    async fn link(&self, host: &str) -> Result<Arc<Link>> {
        let mut guard = self.inner.lock().await;
        if let Some(link) = guard.as_ref()
            && link.channel.status().connected()
        {
            return Ok(link.clone());
        }
        *guard = None;
        let unreachable = |e: lapin::Error| {
            let detail = format!("RabbitMQ: {e}");
            if detail.contains("ACCESS_REFUSED") || detail.contains("ACCESS-REFUSED") {
                Error::AuthFailed {
                    host: host.to_owned(),
                    user: uri_user(&self.uri),
                    transport: KIND,
                    tried: "RabbitMQ PLAIN login".into(),
                }
            } else {
                Error::Unreachable {
                    host: host.to_owned(),
                    transport: KIND,
                    detail,
                }
            }
        };
        let conn = tokio::time::timeout(
            Duration::from_secs(10),
            Connection::connect(&self.uri, ConnectionProperties::default()),
        )
        .await
        .map_err(|_| Error::Unreachable {
            host: host.to_owned(),
            transport: KIND,
            detail: "RabbitMQ did not answer within 10s".into(),
        })?
        .map_err(unreachable)?;
        let channel = conn.create_channel().await.map_err(unreachable)?;
        let (reply_queue, mut consumer) = reply_consumer(&channel, "dbremote-replies")
            .await
            .map_err(unreachable)?;
        let pending: Arc<Mutex<HashMap<String, Waiter>>> = Arc::default();
        let routes = pending.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let props = &delivery.properties;
                let Some(id) = props
                    .correlation_id()
                    .as_ref()
                    .map(|c| c.as_str().to_owned())
                else {
                    continue;
                };
                let app = props
                    .app_id()
                    .as_ref()
                    .map(|a| a.as_str().to_owned())
                    .unwrap_or_default();
                let target = {
                    let map = routes
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    match map.get(&id) {
                        Some(w) if w.identity == app => Some(w.frames.clone()),
                        Some(w) => {
                            tracing::warn!(expected = %w.identity, got = %app, "reply from an unexpected agent ignored");
                            None
                        }
                        None => None,
                    }
                };
                let Some(tx) = target else { continue };
                match Frame::decode(bytes::Bytes::from(delivery.data)) {
                    Ok(frame) => {
                        let end = matches!(frame, Frame::Exit(_) | Frame::Error(_));
                        let _ = tx.send(frame).await;
                        if end {
                            routes
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .remove(&id);
                        }
                    }
                    Err(e) => tracing::warn!(%id, error = %e, "bad reply frame"),
                }
            }
        });
        let link = Arc::new(Link {
            conn,
            channel,
            reply_queue,
            pending,
            declared: Mutex::default(),
            probe: watch::Probe::default(),
        });
        *guard = Some(link.clone());
        Ok(link)
    }
}

impl Link {
    /// Whether the command `id` still waits for frames.
    fn is_pending(&self, id: &str) -> bool {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key(id)
    }

    /// Takes the command `id`'s waiter out (no more frames are routed to it).
    fn take(&self, id: &str) -> Option<Waiter> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id)
    }
}

/// Commands on one host through its rabbit-agent.
#[derive(Debug, Clone)]
pub struct Rabbit {
    host: String,
    agent_type: String,
    broker: Arc<Broker>,
    /// How long an agent has to pick a request up before the host counts as
    /// unreachable.
    pub answer_timeout: Duration,
    limit: Arc<Semaphore>,
}

impl Rabbit {
    /// The agent of `agent_type` on `host` through `broker`.
    pub fn new(
        broker: Arc<Broker>,
        host: impl Into<String>,
        agent_type: impl Into<String>,
    ) -> Self {
        Self {
            host: host.into(),
            agent_type: agent_type.into(),
            broker,
            answer_timeout: Duration::from_secs(10),
            limit: Arc::new(Semaphore::new(64)),
        }
    }

    /// Sends `req` under `id` and returns the frames as a running command.
    async fn call(
        &self,
        id: CommandId,
        req: &Request,
        program: &str,
        timeout: Option<Duration>,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Result<Running> {
        let link = self.broker.link(&self.host).await?;
        let queue = queue_name(&self.agent_type, &self.host);
        let broken = |e: lapin::Error| Error::Transport {
            host: self.host.clone(),
            transport: KIND,
            program: program.to_owned(),
            detail: format!("RabbitMQ: {e}"),
        };
        let fresh = link
            .declared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(queue.clone());
        if fresh {
            declare_request_queue(&link.channel, &queue)
                .await
                .map_err(broken)?;
        }
        let body = serde_json::to_vec(req).map_err(|e| Error::Invalid {
            what: "request".into(),
            detail: e.to_string(),
        })?;
        let d = client_demux(id.clone(), &self.host, KIND, program, timeout, permit);
        let (relay_tx, rx_started) = relay_noticing_start(d.frames);
        link.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                id.0.clone(),
                Waiter {
                    identity: identity(&self.agent_type, &self.host),
                    frames: relay_tx,
                },
            );
        let props = self.properties(&link, &queue, &id, &body);
        let published = async {
            link.channel
                .basic_publish(
                    ShortString::from(""),
                    ShortString::from(queue.as_str()),
                    BasicPublishOptions::default(),
                    &body,
                    props,
                )
                .await?
                .await
        };
        if let Err(e) = published.await {
            drop(link.take(&id.0));
            return Err(broken(e));
        }
        if tokio::time::timeout(self.answer_timeout, rx_started)
            .await
            .is_err()
        {
            drop(link.take(&id.0));
            return Err(Error::Unreachable {
                host: self.host.clone(),
                transport: KIND,
                detail: format!(
                    "no {} agent answered on queue {queue} within {:?}",
                    self.agent_type, self.answer_timeout
                ),
            });
        }
        watch::spawn(link, queue, id.0);
        Ok(d.running)
    }

    /// The request message's properties: where to answer, the ids, an
    /// expiry of the answer timeout, and the signature headers.
    fn properties(&self, link: &Link, queue: &str, id: &CommandId, body: &[u8]) -> BasicProperties {
        BasicProperties::default()
            .with_reply_to(ShortString::from(link.reply_queue.as_str()))
            .with_correlation_id(ShortString::from(id.0.as_str()))
            .with_message_id(ShortString::from(id.0.as_str()))
            .with_content_type(ShortString::from("application/json"))
            .with_expiration(ShortString::from(
                self.answer_timeout.as_millis().to_string(),
            ))
            .with_timestamp(unix_now())
            .with_headers(request_headers(
                &self.host,
                self.broker.secret.as_ref(),
                &signed_path(queue, &id.0, &id.0, &link.reply_queue),
                body,
            ))
    }
}

#[async_trait::async_trait]
impl Transport for Rabbit {
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
        self.call(id, &req, cmd.name(), timeout, Some(permit)).await
    }

    async fn kill(&self, id: &CommandId) -> Result<()> {
        let req = Request::Kill { id: id.0.clone() };
        let running = self
            .call(CommandId::random(), &req, "kill", None, None)
            .await?;
        running.wait().await.map(drop).map_err(|e| match e {
            Error::NoSuchCommand { host, .. } => Error::NoSuchCommand {
                host,
                id: id.to_string(),
            },
            other => other,
        })
    }

    async fn ping(&self) -> Result<()> {
        let running = self
            .call(CommandId::random(), &Request::Ping, "ping", None, None)
            .await?;
        running.wait().await.map(drop)
    }
}

/// Frames from the reply consumer go through a relay that notices the
/// agent's first frame (`Started`): the sender to give the reply consumer,
/// and what fires on that first frame.
fn relay_noticing_start(
    frames: mpsc::Sender<Frame>,
) -> (mpsc::Sender<Frame>, tokio::sync::oneshot::Receiver<()>) {
    let (tx_started, rx_started) = tokio::sync::oneshot::channel::<()>();
    let (relay_tx, mut relay_rx) = mpsc::channel::<Frame>(64);
    tokio::spawn(async move {
        let mut started = Some(tx_started);
        while let Some(f) = relay_rx.recv().await {
            if let Some(s) = started.take() {
                let _ = s.send(());
            }
            if frames.send(f).await.is_err() {
                break;
            }
        }
    });
    (relay_tx, rx_started)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_uri_forms_are_normalized() {
        let n = |s: &str| normalize_uri(s).unwrap();
        assert_eq!(
            n("rabbit://admin:admin@172.16.70.234/"),
            "amqp://admin:admin@172.16.70.234"
        );
        assert_eq!(
            n("rabbit://admin:123456@172.17.134.70:5672//"),
            "amqp://admin:123456@172.17.134.70:5672"
        );
        assert_eq!(
            n("amqp://guest:guest@127.0.0.1:5672"),
            "amqp://guest:guest@127.0.0.1:5672"
        );
        assert_eq!(n("amqps://u:p@h/prod"), "amqps://u:p@h/prod");
        assert_eq!(
            n("amqp://u:p@h/a%2Fb?heartbeat=10"),
            "amqp://u:p@h/a%2Fb?heartbeat=10"
        );
        assert!(normalize_uri("http://h/").is_err());
        assert!(normalize_uri("amqp://h/a/b").is_err());
        assert!(normalize_uri("amqp:///").is_err());
    }

    #[test]
    fn user_is_taken_from_the_uri() {
        assert_eq!(uri_user("amqp://admin:pw@h:5672"), "admin");
        assert_eq!(uri_user("amqp://h"), "guest");
    }

    #[test]
    fn errors_never_hold_the_uri_password() {
        let e = normalize_uri("ftp://u:s3cret@h/").unwrap_err().to_string();
        assert!(!e.contains("s3cret"), "{e}");
    }
}
