//! The rabbit-agent refuses, before running anything, a request naming
//! another host, an expired one, an oversized one, and runs a replayed one
//! (the same message id) only once (issue 18). Raw AMQP against the
//! sandbox's RabbitMQ, on a queue and host id of the test's own agent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use agent::rabbit_server::MAX_REQUEST_BYTES;
use common::rabbit::{RawClient, exec, now, refusal};
use remote::agent::Frame;
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

/// A command whose rabbit-agent dies under it (SIGKILL) ends within
/// seconds with an error naming the agent's queue, instead of waiting out
/// the command (here 10 minutes): the client watches the queue's
/// consumers while a command runs. The command itself ends with the agent
/// (its lifeline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_whose_agent_dies_ends_with_an_error_naming_its_queue() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let agent = common::AgentProc::rabbit(&sb).await;
    let queue = remote::rabbit::queue_name("rds-dbinit", agent.host());
    let client = agent.rabbit_client(&agent.uri);
    // A duration no other process uses, to find the command by.
    let nap = format!("600.{}", std::process::id());
    let running = remote::Transport::spawn(
        &client,
        &remote::Command::new("sleep").arg(nap.as_str()),
        None,
    )
    .await
    .unwrap();
    testkit::poll::until("the command running", Duration::from_secs(30), || {
        Ok((!testkit::procs::naming(&nap).is_empty()).then_some(()))
    })
    .unwrap();
    drop(agent);
    let ended = tokio::time::timeout(Duration::from_secs(60), running.wait())
        .await
        .expect("the command still waits for its dead agent after 60 s");
    let error = ended
        .expect_err("a command whose agent died succeeded")
        .to_string();
    assert!(
        error.contains(&queue) && error.contains("stopped consuming"),
        "the dead agent's queue is not named: {error}"
    );
    let left = testkit::procs::wait_none_naming(&nap, Duration::from_secs(30));
    assert!(left.is_empty(), "the command outlived its agent: {left:?}");
}
