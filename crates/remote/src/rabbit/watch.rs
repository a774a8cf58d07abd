//! A running command's agent, watched on its queue.
//!
//! A rabbit-agent that dies (or loses the broker) in the middle of a
//! command sends nothing more: without a watch, its client would wait for
//! the command's exit status until the command's own timeout, which for a
//! backup stream is hours. While a command runs, its agent's queue's
//! consumers are counted every [`EVERY`] (a passive declare, on a channel
//! of its own so that a queue deleted meanwhile closes only that channel);
//! [`GONE_AFTER`] counts of none in a row end the command with an error
//! naming the queue. The agent's own lifeline ends what it started when it
//! dies (see `crate::local`).

use super::Link;
use crate::agent::Frame;
use crate::error::{WireError, WireKind};
use lapin::options::QueueDeclareOptions;
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Connection};
use std::sync::Arc;
use std::time::Duration;

/// How often a running command's queue is looked at.
const EVERY: Duration = Duration::from_secs(2);

/// Looks in a row that find no consumer before the agent is taken for gone
/// (one may fall in the moment an agent reconnects to the broker).
const GONE_AFTER: u32 = 2;

/// The channel the counts are asked on, opened on first use and again
/// after the broker closed it.
#[derive(Default)]
pub(super) struct Probe {
    channel: tokio::sync::Mutex<Option<Channel>>,
}

impl Probe {
    /// How many consumers `queue` has, or `None` when the broker cannot
    /// say (the link's own errors report a broker that is gone).
    async fn consumers(&self, conn: &Connection, queue: &str) -> Option<u32> {
        let mut channel = self.channel.lock().await;
        if !channel.as_ref().is_some_and(|c| c.status().connected()) {
            *channel = Some(conn.create_channel().await.ok()?);
        }
        let declared = channel
            .as_ref()?
            .queue_declare(
                ShortString::from(queue),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .ok()?;
        Some(declared.consumer_count())
    }
}

/// Watches the agent of the command `id` (sent to `queue`) until the
/// command ends; ends the command with an error if the agent is gone.
pub(super) fn spawn(link: Arc<Link>, queue: String, id: String) {
    tokio::spawn(async move {
        let mut none_seen = 0;
        loop {
            tokio::time::sleep(EVERY).await;
            if !link.is_pending(&id) {
                return;
            }
            match link.probe.consumers(&link.conn, &queue).await {
                Some(0) => none_seen += 1,
                Some(_) => none_seen = 0,
                None => {}
            }
            if none_seen >= GONE_AFTER {
                let Some(waiter) = link.take(&id) else {
                    return;
                };
                tracing::warn!(%queue, %id, "the agent stopped consuming its queue while the command ran");
                let error = WireError {
                    kind: WireKind::Other,
                    message: format!(
                        "the agent stopped consuming {queue} while the command ran \
                         (it died or lost the broker); its commands end with it"
                    ),
                };
                let _ = waiter.frames.send(Frame::Error(error)).await;
                return;
            }
        }
    });
}
