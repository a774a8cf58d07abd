//! The rabbit-agent refuses, before running anything, a request naming
//! another host, an expired one, an oversized one, and runs a replayed one
//! (the same message id) only once (issue 18). Raw AMQP against the
//! sandbox's RabbitMQ, on a queue and host id of the test's own agent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use futures::StreamExt as _;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use remote::agent::Frame;
use remote::agent::rabbit_server::MAX_REQUEST_BYTES;
use std::time::Duration;

/// What the agent answered a request: its first frame.
struct Client {
    _conn: Connection,
    channel: Channel,
    replies: lapin::Consumer,
    reply_queue: String,
    queue: String,
}

impl Client {
    async fn new(uri: &str, host: &str) -> Client {
        let uri = remote::rabbit::normalize_uri(uri).unwrap();
        let conn = Connection::connect(&uri, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = conn.create_channel().await.unwrap();
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
            .await
            .unwrap();
        let reply_queue = queue.name().as_str().to_owned();
        let replies = channel
            .basic_consume(
                ShortString::from(reply_queue.as_str()),
                ShortString::from("rabbit-guard-test"),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        Client {
            _conn: conn,
            channel,
            replies,
            reply_queue,
            queue: remote::rabbit::queue_name("rds-dbinit", host),
        }
    }

    /// Publishes `body` as request `id` naming `host` (none: no header),
    /// stamped `timestamp`.
    async fn publish(&self, id: &str, body: &[u8], host: Option<&str>, timestamp: Option<u64>) {
        let mut props = BasicProperties::default()
            .with_reply_to(ShortString::from(self.reply_queue.as_str()))
            .with_correlation_id(ShortString::from(id))
            .with_message_id(ShortString::from(id));
        if let Some(host) = host {
            let mut headers = FieldTable::default();
            headers.insert(
                ShortString::from(remote::rabbit::HOST_HEADER),
                AMQPValue::LongString(host.into()),
            );
            props = props.with_headers(headers);
        }
        if let Some(ts) = timestamp {
            props = props.with_timestamp(ts);
        }
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

    /// The frames answering `id` up to its end, or what came within `wait`.
    async fn frames(&mut self, id: &str, wait: Duration) -> Vec<Frame> {
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
}

fn exec(id: &str, script: &str) -> Vec<u8> {
    let command = remote::Command::shell(script);
    let req = remote::agent::Request::exec(
        &remote::CommandId(id.to_owned()),
        &command,
        Some(Duration::from_secs(10)),
    );
    serde_json::to_vec(&req).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The refusal in an answer, or a panic naming what came instead.
fn refusal(frames: &[Frame]) -> String {
    match frames.last() {
        Some(Frame::Error(e)) => e.message.clone(),
        other => panic!(
            "expected a refusal, got {other:?} ({} frames)",
            frames.len()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rabbit_agent_refuses_other_host_expired_oversized_and_replayed_requests() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let agent = common::AgentProc::rabbit(&sb).await;
    let host = agent.host().to_owned();
    let mut c = Client::new(&agent.uri, &host).await;
    let dir = common::shared_dir();
    let marker = dir.path.join("ran");
    let append = format!("echo x >> {}", remote::quote(&marker.to_string_lossy()));
    let wait = Duration::from_secs(10);

    let id = "a0a0a0a0a0a0a0a1";
    c.publish(
        id,
        &exec(id, &append),
        Some("test-someone-else"),
        Some(now()),
    )
    .await;
    let why = refusal(&c.frames(id, wait).await);
    assert!(why.contains("meant for another host"), "{why}");

    let id = "a0a0a0a0a0a0a0a2";
    c.publish(id, &exec(id, &append), Some(&host), Some(now() - 3600))
        .await;
    let why = refusal(&c.frames(id, wait).await);
    assert!(why.contains("outside the accepted window"), "{why}");

    let id = "a0a0a0a0a0a0a0a3";
    let mut big = exec(id, &append);
    big.resize(MAX_REQUEST_BYTES + 1, b' ');
    c.publish(id, &big, Some(&host), Some(now())).await;
    let why = refusal(&c.frames(id, Duration::from_secs(60)).await);
    assert!(why.contains("over the"), "{why}");
    assert!(!marker.exists(), "a refused request ran");

    // A good request runs once; the same message again is not run.
    let id = "a0a0a0a0a0a0a0a4";
    c.publish(id, &exec(id, &append), Some(&host), Some(now()))
        .await;
    assert_eq!(c.frames(id, wait).await.last(), Some(&Frame::Exit(0)));
    c.publish(id, &exec(id, &append), Some(&host), Some(now()))
        .await;
    assert!(c.frames(id, Duration::from_secs(2)).await.is_empty());
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "x\n");
}
