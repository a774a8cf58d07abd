//! The rabbit-agent refuses, before running anything, a request naming
//! another host, an expired one, an oversized one, and runs a replayed one
//! (the same message id) only once (issue 18). Raw AMQP against the
//! sandbox's RabbitMQ, on a queue and host id of the test's own agent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::rabbit::{RawClient, exec, now, refusal};
use remote::agent::Frame;
use remote::agent::rabbit_server::MAX_REQUEST_BYTES;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rabbit_agent_refuses_other_host_expired_oversized_and_replayed_requests() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let agent = common::AgentProc::rabbit(&sb).await;
    let host = agent.host().to_owned();
    let mut c = RawClient::new(&agent.uri, &host).await;
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
