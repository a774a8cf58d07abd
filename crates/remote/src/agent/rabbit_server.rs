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
//! Who may send requests is the broker's business: the user, password and
//! vhost permissions of the URI (the requests carry no signature). Before
//! running one the agent refuses, with an `Error` frame naming the reason
//! to the request's `reply_to` and a log line (see [`check`]): a body over
//! [`MAX_REQUEST_BYTES`], a request naming another host in its
//! [`HOST_HEADER`] header, a request whose `timestamp` property is more
//! than [`MAX_SKEW`] off the agent's clock (expired), and one whose id it
//! already took (a replay or redelivery: dropped, it already ran).
//! Requests of older clients, without the header or the timestamp, are
//! taken.

use super::auth::{MAX_SKEW, host_tag};
use super::{Frame, Request, serve_request};
use crate::error::{WireError, WireKind};
use crate::local::Local;
use crate::rabbit::{HOST_HEADER, declare_request_queue, identity, normalize_uri, queue_name};
use futures::StreamExt as _;
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

/// Runs the agent until the process ends, reconnecting with a growing
/// delay (up to 10 s) when the broker goes away.
pub async fn serve(uri: &str, host_id: &str, agent_type: &str, local: Local) -> Result<(), String> {
    let uri = normalize_uri(uri).map_err(|e| e.to_string())?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut delay = Duration::from_millis(200);
    loop {
        match run_once(&uri, host_id, agent_type, &local, &seen).await {
            Ok(()) => tracing::warn!("the broker closed the consumer; reconnecting"),
            Err(e) => tracing::warn!(error = %e, "rabbit-agent connection failed; reconnecting"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

async fn run_once(
    uri: &str,
    host_id: &str,
    agent_type: &str,
    local: &Local,
    seen: &Arc<Mutex<Seen>>,
) -> lapin::Result<()> {
    let conn = Connection::connect(uri, ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    let queue = queue_name(agent_type, host_id);
    declare_request_queue(&channel, &queue).await?;
    channel.basic_qos(256, BasicQosOptions::default()).await?;
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
    let me = identity(agent_type, host_id);
    tracing::info!(%queue, "rabbit-agent consuming");
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery?;
        // At most once: taken off the queue before anything runs.
        delivery.ack(BasicAckOptions::default()).await?;
        let props = &delivery.properties;
        let (Some(reply_to), Some(corr)) =
            (props.reply_to().clone(), props.correlation_id().clone())
        else {
            tracing::warn!("request without reply_to or correlation_id dropped");
            continue;
        };
        let id = props
            .message_id()
            .as_ref()
            .map_or_else(|| corr.as_str().to_owned(), |m| m.as_str().to_owned());
        if let Err(why) = check(&delivery.data, props, host_id) {
            tracing::warn!(%id, %why, "rabbit-agent refused a request");
            let frame = Frame::Error(WireError {
                kind: WireKind::Other,
                message: format!("{me} refused the request: {why}"),
            });
            if let Err(e) = reply(&channel, &reply_to, &corr, &me, &frame).await {
                tracing::info!(%id, error = %e, "cannot answer a refused request");
            }
            continue;
        }
        let fresh = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(&id);
        if !fresh {
            tracing::warn!(%id, redelivered = delivery.redelivered, "duplicate request not run again");
            continue;
        }
        let req: Request = match serde_json::from_slice(&delivery.data) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%id, error = %e, "malformed request dropped");
                continue;
            }
        };
        let (tx, mut rx) = mpsc::channel::<Frame>(32);
        let local = local.clone();
        let me2 = me.clone();
        tokio::spawn(async move { serve_request(&local, &me2, req, tx).await });
        let channel = channel.clone();
        let me = me.clone();
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
    Ok(())
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
}

/// The checks a request passes before it runs (size, host, timestamp).
pub fn check(body: &[u8], props: &BasicProperties, host_id: &str) -> Result<(), Refusal> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(Refusal::TooLarge(body.len()));
    }
    let named = props
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(HOST_HEADER).cloned());
    match named {
        None => {}
        Some(AMQPValue::LongString(s)) if host_tag(&s.to_string()) == host_tag(host_id) => {}
        Some(AMQPValue::ShortString(s)) if host_tag(s.as_str()) == host_tag(host_id) => {}
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
    Ok(())
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

    #[test]
    fn oversized_other_host_and_expired_requests_are_refused() {
        let mut named = FieldTable::default();
        named.insert(
            ShortString::from(HOST_HEADER),
            AMQPValue::LongString("db-1".into()),
        );
        let props = BasicProperties::default().with_headers(named);
        assert_eq!(check(b"{}", &props, "db-1"), Ok(()));
        assert_eq!(check(b"{}", &BasicProperties::default(), "db-1"), Ok(()));
        assert_eq!(
            check(b"{}", &props, "db-2"),
            Err(Refusal::OtherHost("db-1".into()))
        );
        let big = vec![b' '; MAX_REQUEST_BYTES + 1];
        assert_eq!(
            check(&big, &props, "db-1"),
            Err(Refusal::TooLarge(MAX_REQUEST_BYTES + 1))
        );
        let old = BasicProperties::default().with_timestamp(1_000_000);
        assert_eq!(check(b"{}", &old, "db-1"), Err(Refusal::Expired));
    }

    #[test]
    fn duplicate_ids_are_noticed() {
        let mut s = Seen::default();
        assert!(s.insert("a"));
        assert!(!s.insert("a"));
        assert!(s.insert("b"));
    }
}
