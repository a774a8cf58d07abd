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

use super::{Frame, Request, serve_request};
use crate::local::Local;
use crate::rabbit::{declare_request_queue, identity, normalize_uri, queue_name};
use futures::StreamExt as _;
use lapin::Confirmation;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How many request ids the agent remembers for duplicate detection.
const REMEMBERED: usize = 100_000;

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
