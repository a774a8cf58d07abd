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
//! [`crate::refusal_log::REFUSALS_LOGGED_PER_SECOND`] a second, see
//! [`Checks`]): a body over [`MAX_REQUEST_BYTES`], a request naming another
//! host in its [`remote::rabbit::HOST_HEADER`] header, a request whose `timestamp` property
//! is more than [`remote::agent::auth::MAX_SKEW`] off the agent's clock (expired), and, when the
//! agent has a secret (`dbagent rabbit --secret-file`), a request that is
//! not signed or whose signature does not pass (the adm-agent's scheme, see
//! [`remote::rabbit`]: wrong secret, changed body or ids, stale, meant for
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

pub use crate::rabbit_checks::{Checks, MAX_REQUEST_BYTES, Refusal};
use crate::refusal_log::{PerSecond, RefusalLog};
use futures::{FutureExt as _, StreamExt as _};
use lapin::Confirmation;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use remote::Local;
use remote::agent::auth::Secret;
use remote::agent::{Frame, Request, serve_request};
use remote::error::{WireError, WireKind};
use remote::rabbit::{declare_request_queue, identity, normalize_uri, queue_name};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How many request ids the agent remembers for duplicate detection.
const REMEMBERED: usize = 100_000;

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

/// What a consumer checks requests with ([`Checks`]: with the secret's
/// verifier, or none when requests are not signed) and its rate limits.
struct Gate {
    checks: Checks,
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
        checks: Checks::new(host_id, &queue_name(agent_type, host_id), secret),
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

/// A connection consuming the request queue: the channel requests come
/// on (prefetch bounded), and the probe channel (publisher confirms) that
/// replies check their queue with.
struct Consuming {
    conn: Connection,
    channel: Channel,
    probe: Channel,
    consumer: lapin::Consumer,
}

impl Consuming {
    async fn start(uri: &str, queue: &str) -> lapin::Result<Consuming> {
        let conn = Connection::connect(uri, ConnectionProperties::default()).await?;
        let channel = conn.create_channel().await?;
        declare_request_queue(&channel, queue).await?;
        channel
            .basic_qos(PREFETCH, BasicQosOptions::default())
            .await?;
        let probe = conn.create_channel().await?;
        probe
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let consumer = channel
            .basic_consume(
                ShortString::from(queue),
                ShortString::from(format!("dbagent-{}", std::process::id())),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(Consuming {
            conn,
            channel,
            probe,
            consumer,
        })
    }
}

async fn run_once(
    uri: &str,
    agent_type: &str,
    local: &Local,
    seen: &Arc<Mutex<Seen>>,
    gate: &Gate,
) -> lapin::Result<()> {
    let Consuming {
        conn,
        channel,
        probe,
        mut consumer,
    } = Consuming::start(uri, &gate.queue).await?;
    let queue = &gate.queue;
    let me = identity(agent_type, &gate.host_id);
    let refusal_answers = spawn_refusal_answers(conn.create_channel().await?, me.clone());
    let mut acks = Acks {
        channel: channel.clone(),
        last: None,
        pending: 0,
    };
    let mut unanswered = 0u64;
    tracing::info!(%queue, signed = gate.checks.signed(), "rabbit-agent consuming");
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
        match gate.checks.check(&delivery.data, props) {
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

    #[test]
    fn duplicate_ids_are_noticed() {
        let mut s = Seen::default();
        assert!(s.insert("a"));
        assert!(!s.insert("a"));
        assert!(s.insert("b"));
    }
}
