//! A raw AMQP client of a test's rabbit agent: it sets every property and
//! header of a request itself (what the `Rabbit` transport never sends
//! wrong) and reads the answers on its own reply queue.

use futures::StreamExt as _;
use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use remote::Secret;
use remote::agent::Frame;
use std::time::Duration;

/// A connection with a reply queue, publishing to one agent's queue.
pub struct RawClient {
    _conn: Connection,
    pub channel: Channel,
    replies: lapin::Consumer,
    pub reply_queue: String,
    pub queue: String,
}

impl RawClient {
    /// A client of the `rds-dbinit` agent of `host` on the broker at `uri`.
    pub async fn new(uri: &str, host: &str) -> RawClient {
        let uri = remote::rabbit::normalize_uri(uri).unwrap();
        let conn = Connection::connect(&uri, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = conn.create_channel().await.unwrap();
        let (reply_queue, replies) =
            remote::rabbit::reply_consumer(&channel, "rabbit-test-replies")
                .await
                .unwrap();
        RawClient {
            _conn: conn,
            channel,
            replies,
            reply_queue,
            queue: remote::rabbit::queue_name("rds-dbinit", host),
        }
    }

    /// The properties of request `id` answered on this client's reply
    /// queue, naming `host` (none: no header), stamped `timestamp`.
    pub fn props(&self, id: &str, host: Option<&str>, timestamp: Option<u64>) -> BasicProperties {
        let mut props = BasicProperties::default()
            .with_reply_to(ShortString::from(self.reply_queue.as_str()))
            .with_correlation_id(ShortString::from(id))
            .with_message_id(ShortString::from(id));
        if let Some(host) = host {
            props = with_header(props, remote::rabbit::HOST_HEADER, host);
        }
        if let Some(ts) = timestamp {
            props = props.with_timestamp(ts);
        }
        props
    }

    /// [`RawClient::props`] signed with `secret` for `host` at Unix time
    /// `at`, as the `Rabbit` transport signs.
    pub fn signed_props(
        &self,
        secret: &Secret,
        id: &str,
        host: &str,
        at: u64,
        body: &[u8],
    ) -> BasicProperties {
        let path = remote::rabbit::signed_path(&self.queue, id, id, &self.reply_queue);
        let mut props = self.props(id, Some(host), Some(at));
        for (name, value) in secret.sign_at(host, remote::rabbit::SIGNED_METHOD, &path, body, at) {
            props = with_header(props, name, &value);
        }
        props
    }

    /// Publishes `body` with `props` to the agent's queue.
    pub async fn publish_props(&self, body: &[u8], props: BasicProperties) {
        self.channel
            .basic_publish(
                ShortString::from(""),
                ShortString::from(self.queue.as_str()),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// Publishes `body` as request `id` naming `host` (none: no header),
    /// stamped `timestamp`, unsigned.
    pub async fn publish(&self, id: &str, body: &[u8], host: Option<&str>, timestamp: Option<u64>) {
        self.publish_props(body, self.props(id, host, timestamp))
            .await;
    }

    /// The frames answering `id` up to its end, or what came within `wait`.
    pub async fn frames(&mut self, id: &str, wait: Duration) -> Vec<Frame> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(Ok(d))) = tokio::time::timeout_at(deadline, self.replies.next()).await {
            let corr = d
                .properties
                .correlation_id()
                .as_ref()
                .map(|c| c.as_str().to_owned());
            if corr.as_deref() != Some(id) {
                continue;
            }
            let frame = Frame::decode(d.data.into()).unwrap();
            let end = matches!(frame, Frame::Exit(_) | Frame::Error(_));
            out.push(frame);
            if end {
                break;
            }
        }
        out
    }

    /// The answers' stream (another handle on it, for a task counting
    /// them).
    pub fn replies(&self) -> lapin::Consumer {
        self.replies.clone()
    }

    /// Messages ready in the agent's queue (not yet sent to the agent).
    pub async fn backlog(&self) -> u32 {
        self.channel
            .queue_declare(
                ShortString::from(self.queue.as_str()),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap()
            .message_count()
    }
}

/// `props` with one more string header.
fn with_header(props: BasicProperties, name: &str, value: &str) -> BasicProperties {
    let mut headers = props.headers().clone().unwrap_or_default();
    headers.insert(ShortString::from(name), AMQPValue::LongString(value.into()));
    props.with_headers(headers)
}

/// The body of a request running `script` under `id`.
pub fn exec(id: &str, script: &str) -> Vec<u8> {
    let command = remote::Command::shell(script);
    let req = remote::agent::Request::exec(
        &remote::CommandId(id.to_owned()),
        &command,
        Some(Duration::from_secs(10)),
    );
    serde_json::to_vec(&req).unwrap()
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The refusal in an answer, or a panic naming what came instead.
pub fn refusal(frames: &[Frame]) -> String {
    match frames.last() {
        Some(Frame::Error(e)) => e.message.clone(),
        other => panic!(
            "expected a refusal, got {other:?} ({} frames)",
            frames.len()
        ),
    }
}
