//! The rabbit-agent's AMQP side: consumes `dbagent.<agent-type>.<host>`,
//! acknowledges each request *before* running it and remembers the ids it
//! ran (so a redelivered request is never run twice: at most once), and
//! publishes the answer frames to the request's `reply_to` with its
//! `correlation_id` and `app_id` = this agent's identity. Reconnects to the
//! broker when the connection drops.
//!
//! A client's reply queue is exclusive to its connection, so the broker
//! deletes it when the client dies (its TCP connection closes). While a
//! command runs, the agent checks that queue every second (`LEASE_CHECK`) with a
//! mandatory probe message; once it is gone the command is killed (see
//! [`serve_request`]), so a command never outlives its client by more than
//! that period plus the kill grace.
//!
//! Before running a request the agent refuses, with an `Error` frame
//! naming the reason to the request's `reply_to` and a log line (at most
//! [`super::refusal_log::REFUSALS_LOGGED_PER_SECOND`] a second, see
//! [`check`]): a body over [`MAX_REQUEST_BYTES`], a request naming another
//! host in its [`HOST_HEADER`] header, a request whose `timestamp` property
//! is more than [`MAX_SKEW`] off the agent's clock (expired), and, when the
//! agent has a secret (`dbagent rabbit --secret-file`), a request that is
//! not signed or whose signature does not pass (the adm-agent's scheme, see
//! [`crate::rabbit`]: wrong secret, changed body or ids, stale, meant for
//! another host). A request it already took (the same nonce or message id:
//! a replay or a redelivery) is dropped without an answer: it already ran.
//! Without a secret the broker's credentials alone decide who may send a
//! request, and requests of older clients, without the header or the
//! timestamp, are taken.
//!
//! Refusals are cheap, so a flood of bad requests drains at the broker's
//! pace and a good request behind it is not kept waiting: checked on the
//! consumer's task with nothing spawned, acknowledged in batches (a
//! request to run is acknowledged, with every one before it, before it
//! runs), and answered up to [`REFUSALS_ANSWERED_PER_SECOND`] a second by
//! one publishing task (the rest go unanswered, counted in the log).

use super::auth::{self, MAX_SKEW, Secret, Verifier, host_tag};
use super::refusal_log::{PerSecond, RefusalLog};
use super::{Frame, Request, serve_request};
use crate::error::{WireError, WireKind};
use crate::local::Local;
use crate::rabbit::{
    HOST_HEADER, SIGNED_METHOD, declare_request_queue, identity, normalize_uri, queue_name,
    signed_path,
};
use futures::{FutureExt as _, StreamExt as _};
use lapin::Confirmation;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How many request ids the agent remembers for duplicate detection.
const REMEMBERED: usize = 100_000;

/// Largest request body taken: the command plus its stdin (JSON), the same
/// cap as the adm-agent's `exec`
/// ([`super::adm_server::MAX_EXEC_BODY`]).
pub const MAX_REQUEST_BYTES: usize = super::adm_server::MAX_EXEC_BODY;

/// Refused requests answered each second at most; the rest of that second
/// go unanswered (a flood's senders need no answer, and answering them
/// would double the broker's work; an honest client with a wrong secret
/// sends far fewer at once: a controller runs at most 64 commands a host).
pub const REFUSALS_ANSWERED_PER_SECOND: u64 = 200;

/// Refusal answers waiting for the publishing task.
const REFUSAL_ANSWERS_QUEUED: usize = 1024;

/// Deliveries the broker sends ahead of the agent's acknowledgements.
const PREFETCH: u16 = 1024;

/// Refused deliveries acknowledged at once (one `multiple` ack).
const ACK_BATCH: usize = 128;

/// How often a running command's reply queue is checked.
const LEASE_CHECK: Duration = Duration::from_secs(1);

/// Ids of requests already taken, oldest forgotten first.
#[derive(Default)]
struct Seen {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    /// `true` the first time `id` is seen.
    fn insert(&mut self, id: &str) -> bool {
        if !self.set.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

/// What a consumer checks requests with: the secret's verifier (none:
/// requests are not signed) and the refusal log.
struct Gate {
    verifier: Option<Verifier>,
    refusals: RefusalLog,
    answers: PerSecond,
    host_id: String,
    queue: String,
}

/// Runs the agent until the process ends, reconnecting with a growing
/// delay (up to 10 s) when the broker goes away. With `secret` every
/// request must be signed with it (see the module docs).
pub async fn serve(
    uri: &str,
    host_id: &str,
    agent_type: &str,
    local: Local,
    secret: Option<Secret>,
) -> Result<(), String> {
    let uri = normalize_uri(uri).map_err(|e| e.to_string())?;
    if secret.is_none() {
        tracing::warn!(
            agent_type,
            "rabbit-agent requests are not signed (no --secret-file): whoever may publish to its queue on the broker can run commands"
        );
    }
    let gate = Gate {
        verifier: secret.map(|s| Verifier::new(s, &[host_id.to_owned()])),
        refusals: RefusalLog::new("rabbit-agent"),
        answers: PerSecond::new(REFUSALS_ANSWERED_PER_SECOND),
        host_id: host_id.to_owned(),
        queue: queue_name(agent_type, host_id),
    };
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut delay = Duration::from_millis(200);
    loop {
        match run_once(&uri, agent_type, &local, &seen, &gate).await {
            Ok(()) => tracing::warn!("the broker closed the consumer; reconnecting"),
            Err(e) => tracing::warn!(error = %e, "rabbit-agent connection failed; reconnecting"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// An answer to a refused request, for the publishing task.
struct RefusalAnswer {
    reply_to: ShortString,
    corr: ShortString,
    frame: Frame,
}

/// Publishes refusal answers off the consumer's task, so the consumer
/// never waits on them.
fn spawn_refusal_answers(channel: Channel, me: String) -> mpsc::Sender<RefusalAnswer> {
    let (tx, mut rx) = mpsc::channel::<RefusalAnswer>(REFUSAL_ANSWERS_QUEUED);
    tokio::spawn(async move {
        while let Some(a) = rx.recv().await {
            if let Err(e) = reply(&channel, &a.reply_to, &a.corr, &me, &a.frame).await {
                tracing::info!(error = %e, "cannot answer a refused request");
            }
        }
    });
    tx
}

async fn run_once(
    uri: &str,
    agent_type: &str,
    local: &Local,
    seen: &Arc<Mutex<Seen>>,
    gate: &Gate,
) -> lapin::Result<()> {
    let conn = Connection::connect(uri, ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    let queue = &gate.queue;
    declare_request_queue(&channel, queue).await?;
    channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await?;
    let probe = conn.create_channel().await?;
    probe
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            ShortString::from(queue.as_str()),
            ShortString::from(format!("dbagent-{}", std::process::id())),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let me = identity(agent_type, &gate.host_id);
    let refusal_answers = spawn_refusal_answers(conn.create_channel().await?, me.clone());
    let mut acks = Acks {
        channel: channel.clone(),
        last: None,
        pending: 0,
    };
    let mut unanswered = 0u64;
    tracing::info!(%queue, signed = gate.verifier.is_some(), "rabbit-agent consuming");
    loop {
        // Acknowledge what was taken whenever the agent would wait.
        let next = match consumer.next().now_or_never() {
            Some(next) => next,
            None => {
                acks.flush().await?;
                consumer.next().await
            }
        };
        let Some(delivery) = next else { break };
        let delivery = delivery?;
        acks.note(delivery.delivery_tag).await?;
        let props = &delivery.properties;
        let (Some(reply_to), Some(corr)) =
            (props.reply_to().clone(), props.correlation_id().clone())
        else {
            if gate.refusals.admit() {
                tracing::warn!("request without reply_to or correlation_id dropped");
            }
            continue;
        };
        let id = props
            .message_id()
            .as_ref()
            .map_or_else(|| corr.as_str().to_owned(), |m| m.as_str().to_owned());
        match check(&delivery.data, props, gate) {
            Ok(()) => {}
            Err(Refusal::Replayed) => {
                if gate.refusals.admit() {
                    tracing::warn!(%id, "duplicate request not run again (its signature's nonce was already taken)");
                }
                continue;
            }
            Err(why) => {
                if gate.refusals.admit() {
                    tracing::warn!(%id, %why, unanswered, "rabbit-agent refused a request");
                }
                let answer = RefusalAnswer {
                    reply_to,
                    corr,
                    frame: Frame::Error(WireError {
                        kind: WireKind::Other,
                        message: format!("{me} refused the request: {why}"),
                    }),
                };
                if !gate.answers.take().0 || refusal_answers.try_send(answer).is_err() {
                    unanswered += 1;
                }
                continue;
            }
        }
        let fresh = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(&id);
        if !fresh {
            if gate.refusals.admit() {
                tracing::warn!(%id, redelivered = delivery.redelivered, "duplicate request not run again");
            }
            continue;
        }
        let req: Request = match serde_json::from_slice(&delivery.data) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%id, error = %e, "malformed request dropped");
                continue;
            }
        };
        // At most once: taken off the queue before anything runs.
        acks.flush().await?;
        run_request(local, &me, req, &channel, &probe, reply_to, corr);
    }
    Ok(())
}

/// Deliveries taken but not yet acknowledged: one `multiple` ack covers
/// them all (a flood's refusals cost the broker one ack per batch).
struct Acks {
    channel: Channel,
    last: Option<u64>,
    pending: usize,
}

impl Acks {
    /// Notes delivery `tag` as taken; acknowledges a full batch.
    async fn note(&mut self, tag: u64) -> lapin::Result<()> {
        self.last = Some(tag);
        self.pending += 1;
        if self.pending >= ACK_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    /// Acknowledges every delivery taken so far.
    async fn flush(&mut self) -> lapin::Result<()> {
        if let Some(tag) = self.last.take() {
            self.pending = 0;
            self.channel
                .basic_ack(tag, BasicAckOptions { multiple: true })
                .await?;
        }
        Ok(())
    }
}

/// Runs an admitted request in its own tasks, its frames published to
/// `reply_to`; the command is killed when the client's reply queue goes.
fn run_request(
    local: &Local,
    me: &str,
    req: Request,
    channel: &Channel,
    probe: &Channel,
    reply_to: ShortString,
    corr: ShortString,
) {
    let (tx, mut rx) = mpsc::channel::<Frame>(32);
    let local = local.clone();
    let me2 = me.to_owned();
    tokio::spawn(async move { serve_request(&local, &me2, req, tx).await });
    let channel = channel.clone();
    let me = me.to_owned();
    let probe = probe.clone();
    tokio::spawn(async move {
        let mut lease =
            tokio::time::interval_at(tokio::time::Instant::now() + LEASE_CHECK, LEASE_CHECK);
        lease.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut replies_broken = false;
        loop {
            tokio::select! {
                frame = rx.recv() => {
                    let Some(frame) = frame else { return };
                    if replies_broken {
                        continue;
                    }
                    // Our own link to the broker broke, not the client:
                    // the command runs on (the lease check still ends
                    // it if the client goes).
                    if let Err(e) = reply(&channel, &reply_to, &corr, &me, &frame).await {
                        tracing::info!(id = %corr, error = %e, "cannot reply; the command runs on without answers");
                        replies_broken = true;
                    }
                }
                _ = lease.tick() => {
                    if reply_queue_gone(&probe, &reply_to).await {
                        tracing::info!(id = %corr, queue = %reply_to, "the client's reply queue is gone; ending its command");
                        // Dropping `rx` makes `serve_request` kill it.
                        return;
                    }
                }
            }
        }
    });
}

/// Why a request is refused before it runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The body is over [`MAX_REQUEST_BYTES`].
    #[error("a request of {0} bytes is over the {MAX_REQUEST_BYTES}-byte limit")]
    TooLarge(usize),
    /// The request names another host.
    #[error("the request is meant for another host ({0})")]
    OtherHost(String),
    /// The request's timestamp is outside the window.
    #[error("the request's timestamp is outside the accepted window (expired or from the future)")]
    Expired,
    /// The agent takes signed requests only and this one carries no
    /// signature.
    #[error(
        "the request is not signed and this agent takes signed requests only (give the tool the agent's secret: [rabbit-agent] secret-file)"
    )]
    Unsigned,
    /// The signature does not pass.
    #[error("the request's signature does not pass: {0}")]
    BadSignature(auth::Refusal),
    /// The nonce was already taken: a replay or a redelivery (dropped
    /// without an answer, as the original was answered).
    #[error("replayed request")]
    Replayed,
}

/// The checks a request passes before it runs, cheapest first: size,
/// host, timestamp, and with a secret the signature (its headers, then
/// the body against the signed digest) and its nonce not seen before.
fn check(body: &[u8], props: &BasicProperties, gate: &Gate) -> Result<(), Refusal> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(Refusal::TooLarge(body.len()));
    }
    let headers = props.headers().as_ref().map(FieldTable::inner);
    match headers.and_then(|h| h.get(HOST_HEADER)) {
        None => {}
        Some(AMQPValue::LongString(s)) if host_tag(&s.to_string()) == host_tag(&gate.host_id) => {}
        Some(AMQPValue::ShortString(s)) if host_tag(s.as_str()) == host_tag(&gate.host_id) => {}
        Some(AMQPValue::LongString(s)) => {
            return Err(Refusal::OtherHost(printable(&s.to_string())));
        }
        Some(AMQPValue::ShortString(s)) => return Err(Refusal::OtherHost(printable(s.as_str()))),
        Some(_) => return Err(Refusal::OtherHost("a header that is no string".into())),
    }
    if let Some(ts) = *props.timestamp() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        if ts.abs_diff(now) > MAX_SKEW.as_secs() {
            return Err(Refusal::Expired);
        }
    }
    let Some(verifier) = &gate.verifier else {
        return Ok(());
    };
    let header = |name: &str| -> Option<&str> {
        match headers?.get(name)? {
            AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
            AMQPValue::ShortString(s) => Some(s.as_str()),
            _ => None,
        }
    };
    if [auth::TIMESTAMP, auth::NONCE, auth::SIGNATURE]
        .iter()
        .all(|name| header(name).is_none())
    {
        return Err(Refusal::Unsigned);
    }
    fn text(v: &Option<ShortString>) -> &str {
        v.as_ref().map_or("", ShortString::as_str)
    }
    let path = signed_path(
        &gate.queue,
        text(props.message_id()),
        text(props.correlation_id()),
        text(props.reply_to()),
    );
    verifier
        .verify(SIGNED_METHOD, &path, header, None, body)
        .map_err(|r| match r {
            auth::Refusal::Replay => Refusal::Replayed,
            other => Refusal::BadSignature(other),
        })
}

/// A host name from a message, cut short and without control characters
/// (it goes into a log line and an answer).
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// Correlation id of the lease probes (no client waits for it, so a
/// client ignores them).
const LEASE_PROBE: &str = "dbagent-lease-probe";

/// Whether `queue` is gone: an empty, mandatory message published to it
/// on `probe` (a channel in confirm mode) comes back unroutable. A live
/// client's reply consumer drops it (no command has that correlation id).
/// Any other outcome counts as alive: a broker problem is the reconnect
/// loop's business, not a reason to kill. (A passive declare would do too,
/// but on another connection's exclusive queue it fails with 405 and
/// closes its channel, an error log every second.)
async fn reply_queue_gone(probe: &Channel, queue: &ShortString) -> bool {
    let published = probe
        .basic_publish(
            ShortString::from(""),
            queue.clone(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            b"",
            BasicProperties::default().with_correlation_id(ShortString::from(LEASE_PROBE)),
        )
        .await;
    match published {
        Ok(confirm) => matches!(
            confirm.await,
            Ok(Confirmation::Ack(Some(_)) | Confirmation::Nack(Some(_)))
        ),
        Err(_) => false,
    }
}

async fn reply(
    channel: &Channel,
    reply_to: &ShortString,
    corr: &ShortString,
    me: &str,
    frame: &Frame,
) -> lapin::Result<()> {
    let props = BasicProperties::default()
        .with_correlation_id(corr.clone())
        .with_app_id(ShortString::from(me));
    channel
        .basic_publish(
            ShortString::from(""),
            reply_to.clone(),
            BasicPublishOptions::default(),
            &frame.encode(),
            props,
        )
        .await?
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(secret: Option<&Secret>) -> Gate {
        Gate {
            verifier: secret.map(|s| Verifier::new(s.clone(), &["db-1".to_owned()])),
            refusals: RefusalLog::new("rabbit-agent"),
            answers: PerSecond::new(REFUSALS_ANSWERED_PER_SECOND),
            host_id: "db-1".into(),
            queue: queue_name("rds-dbinit", "db-1"),
        }
    }

    #[test]
    fn oversized_other_host_and_expired_requests_are_refused() {
        let mut named = FieldTable::default();
        named.insert(
            ShortString::from(HOST_HEADER),
            AMQPValue::LongString("db-1".into()),
        );
        let props = BasicProperties::default().with_headers(named);
        let mut other = gate(None);
        other.host_id = "db-2".into();
        assert_eq!(check(b"{}", &props, &gate(None)), Ok(()));
        assert_eq!(
            check(b"{}", &BasicProperties::default(), &gate(None)),
            Ok(())
        );
        assert_eq!(
            check(b"{}", &props, &other),
            Err(Refusal::OtherHost("db-1".into()))
        );
        let big = vec![b' '; MAX_REQUEST_BYTES + 1];
        assert_eq!(
            check(&big, &props, &gate(None)),
            Err(Refusal::TooLarge(MAX_REQUEST_BYTES + 1))
        );
        let old = BasicProperties::default().with_timestamp(1_000_000);
        assert_eq!(check(b"{}", &old, &gate(None)), Err(Refusal::Expired));
    }

    /// A request as the client signs it (see `crate::rabbit`).
    fn signed(
        secret: &Secret,
        host: &str,
        id: &str,
        reply_to: &str,
        body: &[u8],
    ) -> BasicProperties {
        let path = signed_path(&queue_name("rds-dbinit", host), id, id, reply_to);
        let mut headers = FieldTable::default();
        headers.insert(
            ShortString::from(HOST_HEADER),
            AMQPValue::LongString(host.into()),
        );
        for (name, value) in secret.sign(host, SIGNED_METHOD, &path, body) {
            headers.insert(ShortString::from(name), AMQPValue::LongString(value.into()));
        }
        BasicProperties::default()
            .with_message_id(ShortString::from(id))
            .with_correlation_id(ShortString::from(id))
            .with_reply_to(ShortString::from(reply_to))
            .with_headers(headers)
    }

    #[test]
    fn with_a_secret_only_signed_requests_pass_and_once() {
        let secret = Secret::new("0123456789abcdef-secret");
        let g = gate(Some(&secret));
        let props = signed(&secret, "db-1", "ab01", "amq.gen-1", b"{}");
        assert_eq!(check(b"{}", &props, &g), Ok(()));
        assert_eq!(check(b"{}", &props, &g), Err(Refusal::Replayed));
        // Unsigned, the wrong secret, another body, another reply queue.
        assert_eq!(
            check(b"{}", &BasicProperties::default(), &g),
            Err(Refusal::Unsigned)
        );
        let wrong = Secret::new("another-secret-of-16");
        let props = signed(&wrong, "db-1", "ab02", "amq.gen-1", b"{}");
        assert_eq!(
            check(b"{}", &props, &g),
            Err(Refusal::BadSignature(auth::Refusal::BadSignature))
        );
        let props = signed(&secret, "db-1", "ab03", "amq.gen-1", b"{}");
        assert_eq!(
            check(b"{\"op\":\"ping\"}", &props, &g),
            Err(Refusal::BadSignature(auth::Refusal::BodyMismatch))
        );
        let props = signed(&secret, "db-1", "ab04", "amq.gen-1", b"{}")
            .with_reply_to(ShortString::from("amq.gen-thief"));
        assert_eq!(
            check(b"{}", &props, &g),
            Err(Refusal::BadSignature(auth::Refusal::BadSignature))
        );
        // Signed for another host's queue: the host header says so first.
        let props = signed(&secret, "db-2", "ab05", "amq.gen-1", b"{}");
        assert_eq!(
            check(b"{}", &props, &g),
            Err(Refusal::OtherHost("db-2".into()))
        );
        // An agent without a secret takes a signed request too.
        let props = signed(&secret, "db-1", "ab06", "amq.gen-1", b"{}");
        assert_eq!(check(b"{}", &props, &gate(None)), Ok(()));
    }

    #[test]
    fn signed_paths_of_different_ids_differ() {
        assert_ne!(
            signed_path("q", "a b", "c", "d"),
            signed_path("q", "a", "b c", "d")
        );
    }

    #[test]
    fn duplicate_ids_are_noticed() {
        let mut s = Seen::default();
        assert!(s.insert("a"));
        assert!(!s.insert("a"));
        assert!(s.insert("b"));
    }
}
