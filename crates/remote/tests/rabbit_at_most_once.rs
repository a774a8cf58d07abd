//! The same rabbit-agent request published twice (as a broker redelivery
//! or a client retry would) runs once: the agent logs dropping the copy,
//! and the command's marker file holds one line.
#![allow(clippy::unwrap_used)]

use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use remote::agent::Request;
use remote::rabbit::{
    Broker, Rabbit, SIGNED_METHOD, normalize_uri, queue_name, reply_consumer, signed_path,
};
use remote::{Command, CommandId, Secret, Transport, quote};
use std::time::Duration;
use testkit::poll::Poll;

#[tokio::test]
async fn a_request_published_twice_runs_once() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let host = sb.prod_servers()[0].host.clone();
    let uri = sb.var("RABBITMQ_URI");
    let marker = std::env::temp_dir().join(format!("dbagent-once-{}", CommandId::random()));
    let marker_text = marker.display().to_string();

    let conn = Connection::connect(
        &normalize_uri(uri).unwrap(),
        ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let channel = conn.create_channel().await.unwrap();
    // Answers go to a reply queue of this connection, read by nobody.
    let (replies, _answers) = reply_consumer(&channel, "at-most-once-test").await.unwrap();
    let id = CommandId::random();
    let cmd = Command::shell(format!("echo ran >> {}", quote(&marker_text)));
    let body =
        serde_json::to_vec(&Request::exec(&id, &cmd, Some(Duration::from_secs(30)))).unwrap();
    let queue = queue_name("rds-dbinit", &host);
    let mut props = BasicProperties::default()
        .with_reply_to(ShortString::from(replies.as_str()))
        .with_correlation_id(ShortString::from(id.0.as_str()))
        .with_message_id(ShortString::from(id.0.as_str()))
        .with_expiration(ShortString::from("30000"));
    // A sandbox whose rabbit agents have a secret takes signed requests
    // only: both copies carry the same signature (and nonce).
    let secret = rabbit_secret(&sb);
    if let Some(secret) = &secret {
        let path = signed_path(&queue, &id.0, &id.0, &replies);
        let mut headers = FieldTable::default();
        for (name, value) in secret.sign(&host, SIGNED_METHOD, &path, &body) {
            headers.insert(ShortString::from(name), AMQPValue::LongString(value.into()));
        }
        props = props.with_headers(headers);
    }
    for _ in 0..2 {
        let props = props.clone();
        channel
            .basic_publish(
                ShortString::from(""),
                ShortString::from(queue.as_str()),
                BasicPublishOptions::default(),
                &body,
                props,
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    // The first copy runs: wait (bounded) for its line.
    let quick = Poll::within(Duration::from_secs(20)).every(Duration::from_millis(20));
    let m = &marker;
    quick
        .wait_async("the request running", || async move {
            !std::fs::read_to_string(m).unwrap_or_default().is_empty()
        })
        .await;
    // The agent says in its log when it drops a duplicate (a bounded wait:
    // an agent that ran the copy instead never says it, and the test fails
    // here rather than racing the copy's write against the read below).
    let log = sb.dir.join("agents").join(format!("rabbit-{host}.log"));
    let what = format!(
        "{} logging that it dropped the duplicate of {}",
        log.display(),
        id.0
    );
    let (l, wanted) = (&log, id.0.as_str());
    quick
        .wait_async(&what, || async move {
            std::fs::read_to_string(l)
                .unwrap_or_default()
                .lines()
                .any(|line| {
                    line.contains("duplicate request not run again") && line.contains(wanted)
                })
        })
        .await;
    // And the copy left no trace: one line only.
    let later = Rabbit::new(
        Broker::with_secret(uri, secret).unwrap(),
        host.as_str(),
        "rds-dbinit",
    );
    later.ping().await.unwrap();
    let out = later
        .exec(
            &Command::new("cat").arg(&marker_text),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout_str(), "ran\n", "the duplicate ran too");
    let _ = later
        .exec(
            &Command::new("rm").arg("-f").arg(&marker_text),
            Duration::from_secs(20),
        )
        .await;
}

/// The sandbox rabbit agents' secret, when they have one (a sandbox made
/// before they were given one has none).
fn rabbit_secret(sb: &testkit::Sandbox) -> Option<Secret> {
    let file = sb.dir.join("agents").join("rabbit.secret");
    file.exists()
        .then(|| Secret::from_file(&file).expect("the rabbit agents' secret"))
}
