//! The rabbit-agent with a secret (`dbagent rabbit --secret-file`, issue
//! 18): it refuses unsigned and wrongly signed requests (another secret,
//! a changed body or reply queue, stale, signed for another host) before
//! running anything and runs a signed one once; and a flood of 10,000 bad
//! requests in its queue (unsigned, forged, for another host, expired, a
//! body other than the signed one) does not keep a good one waiting more
//! than 1 s.
//! Raw AMQP against the sandbox's RabbitMQ, on the test's own agents.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use agent::rabbit_server::MAX_REQUEST_BYTES;
use common::AgentProc;
use common::rabbit::{RawClient, exec, now, refusal};
use futures::StreamExt as _;
use remote::agent::Frame;
use remote::{Secret, Transport as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A secret that is not the agent's.
fn forged() -> Secret {
    Secret::new("not-the-agents-secret-0123")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_agent_refuses_unsigned_and_wrongly_signed_requests_before_running_them() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let agent = AgentProc::rabbit_signed(&sb, dir.path().join("rabbit.secret"), false).await;
    let host = agent.host().to_owned();
    let secret = agent.secret.clone();
    let shared = common::shared_dir();
    let marker = shared.path.join("ran");
    let append = format!("echo x >> {}", remote::quote(&marker.to_string_lossy()));
    let wait = Duration::from_secs(10);

    // The controller's transport signs: its commands run.
    let out = agent
        .rabbit_client(&agent.uri)
        .exec(&remote::Command::shell("echo signed"), wait)
        .await
        .unwrap();
    assert_eq!(out.stdout_str(), "signed\n");

    let mut c = RawClient::new(&agent.uri, &host).await;
    let id = "b0b0b0b0b0b0b0b1";
    c.publish(id, &exec(id, &append), Some(&host), Some(now()))
        .await;
    let why = refusal(&c.frames(id, wait).await);
    assert!(why.contains("not signed"), "{why}");

    let id = "b0b0b0b0b0b0b0b2";
    let body = exec(id, &append);
    c.publish_props(&body, c.signed_props(&forged(), id, &host, now(), &body))
        .await;
    let why = refusal(&c.frames(id, wait).await);
    assert!(why.contains("bad signature"), "{why}");

    let id = "b0b0b0b0b0b0b0b3";
    let body = exec(id, &append);
    let props = c.signed_props(&secret, id, &host, now(), &exec(id, "true"));
    c.publish_props(&body, props).await;
    let why = refusal(&c.frames(id, wait).await);
    assert!(why.contains("does not match its signed digest"), "{why}");

    let id = "b0b0b0b0b0b0b0b4";
    let body = exec(id, &append);
    let props = c.signed_props(&secret, id, &host, now() - 3600, &body);
    c.publish_props(&body, props.with_timestamp(now())).await;
    let why = refusal(&c.frames(id, wait).await);
    assert!(why.contains("outside the accepted window"), "{why}");

    // Signed for another host, its host header rewritten to this one.
    let id = "b0b0b0b0b0b0b0b5";
    let body = exec(id, &append);
    let props = c.signed_props(&secret, id, "test-someone-else", now(), &body);
    let mut headers = props.headers().clone().unwrap();
    headers.insert(
        remote::rabbit::HOST_HEADER.into(),
        lapin::types::AMQPValue::LongString(host.as_str().into()),
    );
    c.publish_props(&body, props.with_headers(headers)).await;
    let why = refusal(&c.frames(id, wait).await);
    assert!(why.contains("meant for another host"), "{why}");

    // A signed request whose answers someone else's queue would take.
    let mut thief = RawClient::new(&agent.uri, &host).await;
    let id = "b0b0b0b0b0b0b0b6";
    let body = exec(id, &append);
    let props = c
        .signed_props(&secret, id, &host, now(), &body)
        .with_reply_to(thief.reply_queue.as_str().into());
    c.publish_props(&body, props).await;
    let why = refusal(&thief.frames(id, wait).await);
    assert!(why.contains("bad signature"), "{why}");

    let mut big = exec("b0b0b0b0b0b0b0b7", &append);
    big.resize(MAX_REQUEST_BYTES + 1, b' ');
    let id = "b0b0b0b0b0b0b0b7";
    c.publish_props(&big, c.signed_props(&secret, id, &host, now(), &big))
        .await;
    let why = refusal(&c.frames(id, Duration::from_secs(60)).await);
    assert!(why.contains("over the"), "{why}");
    assert!(!marker.exists(), "a refused request ran");

    // A signed request runs once; the same message again is dropped.
    let id = "b0b0b0b0b0b0b0b8";
    let body = exec(id, &append);
    let props = c.signed_props(&secret, id, &host, now(), &body);
    c.publish_props(&body, props.clone()).await;
    assert_eq!(c.frames(id, wait).await.last(), Some(&Frame::Exit(0)));
    c.publish_props(&body, props).await;
    assert!(c.frames(id, Duration::from_secs(2)).await.is_empty());
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "x\n");

    // Both ways compatible: an agent without a secret takes signed requests.
    let unsigned = AgentProc::rabbit(&sb).await;
    let mut t = remote::Rabbit::new(
        remote::Broker::with_secret(&unsigned.uri, Some(forged())).unwrap(),
        unsigned.host().to_owned(),
        "rds-dbinit",
    );
    t.answer_timeout = wait;
    t.ping().await.unwrap();
}

/// One bad request of the flood, by `n`: unsigned, forged, signed for
/// another host, expired, or with a body other than the signed one.
async fn bad_request(c: &RawClient, secret: &Secret, host: &str, n: usize) {
    let id = format!("f100d{n:011x}");
    let body = exec(&id, "echo flood >> /dev/null");
    let props = match n % 5 {
        0 => c.props(&id, Some(host), Some(now())),
        1 => c.signed_props(&forged(), &id, host, now(), &body),
        2 => c.signed_props(secret, &id, "test-someone-else", now(), &body),
        3 => c.signed_props(secret, &id, host, now() - 3600, &body),
        _ => c.signed_props(secret, &id, host, now(), b"{}"),
    };
    c.publish_props(&body, props).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_requests_does_not_keep_a_good_one_waiting() {
    const FLOOD: usize = 10_000;
    const GOOD_WITHIN: Duration = Duration::from_secs(1);
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let agent = AgentProc::rabbit_signed(&sb, dir.path().join("rabbit.secret"), true).await;
    let host = agent.host().to_owned();
    let secret = agent.secret.clone();
    let good = agent.rabbit_client(&agent.uri);
    good.ping().await.unwrap();
    let cpu_before = cpu_time(agent.pid().unwrap());

    // Count the refusals answered to the flood's reply queue.
    let flood = Arc::new(RawClient::new(&agent.uri, &host).await);
    let answered = Arc::new(AtomicUsize::new(0));
    let counter = {
        let (mut replies, answered) = (flood.replies(), answered.clone());
        tokio::spawn(async move {
            while let Some(Ok(d)) = replies.next().await {
                if let Ok(Frame::Error(_)) = Frame::decode(d.data.into()) {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    // The bounded flood: FLOOD bad requests, published as fast as one
    // channel takes them. (Bodies over the cap are refused in the test
    // above: each is 64 MiB the broker hands the agent whole, and in a
    // debug build lapin takes ~0.4 s of CPU to reassemble one.)
    let sent = Arc::new(AtomicUsize::new(0));
    let publisher = {
        let (flood, sent, secret, host) =
            (flood.clone(), sent.clone(), secret.clone(), host.clone());
        tokio::spawn(async move {
            for n in 0..FLOOD {
                bad_request(&flood, &secret, &host, n).await;
                sent.store(n + 1, Ordering::Relaxed);
            }
        })
    };
    // Good requests while the flood is published and drained: each from
    // its publish to its exit status.
    let mut measured = Vec::new();
    let flood_started = Instant::now();
    while sent.load(Ordering::Relaxed) < FLOOD / 5 {
        assert!(
            flood_started.elapsed() < Duration::from_secs(120),
            "the flood did not get going"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    loop {
        let done = publisher.is_finished();
        let (at, backlog) = (sent.load(Ordering::Relaxed), flood.backlog().await);
        let t = Instant::now();
        let out = good
            .exec(
                &remote::Command::shell("echo good"),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
        measured.push((t.elapsed(), at, backlog));
        assert_eq!(out.stdout_str(), "good\n");
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    publisher.await.unwrap();
    let flood_took = flood_started.elapsed();
    // Every bad request is taken off the queue.
    testkit::poll::Poll::within(Duration::from_secs(60))
        .every(Duration::from_millis(50))
        .wait_async("the flood drained", || async { flood.backlog().await == 0 })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    counter.abort();
    let answered = answered.load(Ordering::Relaxed);
    let agent_cpu = cpu_time(agent.pid().unwrap()) - cpu_before;
    let worst = measured.iter().max_by_key(|m| m.0).copied().unwrap();
    eprintln!(
        "flood: {} bad requests published in {flood_took:?}, {answered} refusals answered, \
         the agent's CPU {agent_cpu:?}; \
         {} good requests, worst {:?} (after {} bad, backlog {}); all: {:?}",
        FLOOD,
        measured.len(),
        worst.0,
        worst.1,
        worst.2,
        measured
    );
    assert!(
        worst.0 < GOOD_WITHIN,
        "a good signed request took {:?} to be answered during the flood (published after {} bad \
         requests, {} waiting in the queue); the bound is {GOOD_WITHIN:?}",
        worst.0,
        worst.1,
        worst.2
    );
    assert!(agent.pid().is_some_and(|p| common::pid_alive(p as i32)));
}

/// The CPU time (user and system) process `pid` has used.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // utime and stime: fields 14 and 15 of stat, 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .unwrap()
        .unwrap() as u64;
    Duration::from_millis(ticks * 1000 / hz)
}
