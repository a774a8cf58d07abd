//! The adm-agent under attack (issue 18): requests refused before their
//! body is read, slow-header connections closed, connection caps, a flood
//! of bad requests that does not keep a good one waiting, and junk bodies
//! that do not grow the agent. Raw HTTP over TCP, so the tests control
//! every byte and the source address (127.0.0.x) of each connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{AgentProc, HOST};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

/// A body length under the agent's `exec` cap (64 MiB) that no test sends.
const UNSENT_BODY: usize = 48 * 1024 * 1024;
/// The agent's default header deadline, and the margin a close may take.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const CLOSE_MARGIN: Duration = Duration::from_secs(5);

/// A connection to the agent on `port` from source address `from`.
async fn connect(from: [u8; 4], port: u16) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::from(from), 0)).unwrap();
    socket
        .connect(format!("{HOST}:{port}").parse().unwrap())
        .await
        .unwrap()
}

/// The head of a POST to `path` declaring `length` body bytes.
fn head(path: &str, headers: &[(&str, String)], length: usize) -> String {
    let mut req = format!("POST {path} HTTP/1.1\r\nhost: {HOST}\r\ncontent-length: {length}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req
}

/// Everything the agent sends until it closes, or `None` when it neither
/// answers nor closes within `within`.
async fn answer(s: &mut TcpStream, within: Duration) -> Option<String> {
    let mut out = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut out)).await {
        Ok(Ok(_)) => Some(String::from_utf8_lossy(&out).into_owned()),
        // A reset after the answer still counts as closed.
        Ok(Err(_)) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

/// Sends a head declaring a body it never sends; the agent must answer
/// (and close) without waiting for the body. Returns the status line.
async fn refused_without_body(port: u16, headers: &[(&str, String)], length: usize) -> String {
    let mut s = connect([127, 0, 0, 1], port).await;
    s.write_all(head("/v1/exec", headers, length).as_bytes())
        .await
        .unwrap();
    let text = answer(&mut s, Duration::from_secs(5))
        .await
        .expect("the agent waited for the body instead of refusing the request");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    text.lines().next().unwrap_or_default().to_owned()
}

/// A signed request from `from`: its status line and how long it took.
async fn signed_ping(agent: &AgentProc, from: [u8; 4]) -> (String, Duration) {
    let body = br#"{"op":"ping"}"#;
    let headers: Vec<(&str, String)> = agent.secret.sign(HOST, "POST", "/v1/ping", body).into();
    let started = Instant::now();
    let mut s = connect(from, agent.port()).await;
    let mut req = head("/v1/ping", &headers, body.len());
    req = req.replacen("\r\n\r\n", "\r\nconnection: close\r\n\r\n", 1);
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let text = answer(&mut s, Duration::from_secs(30))
        .await
        .unwrap_or_default();
    (
        text.lines().next().unwrap_or_default().to_owned(),
        started.elapsed(),
    )
}

fn agent(dir: &tempfile::TempDir, extra: &[&str]) -> AgentProc {
    AgentProc::adm_quiet(HOST, dir.path().join("secret"), extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_before_their_body_is_read() {
    let Some(_sb) = testkit::Sandbox::get() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let agent = agent(&dir, &[]);
    let port = agent.port();
    let body = br#"{"op":"exec","id":"a1b2c3","command":{"program":{"exec":{"program":"true","args":[]}}},"timeout_ms":5000}"#;
    let sign = |host: &str| -> Vec<(&'static str, String)> {
        agent.secret.sign(host, "POST", "/v1/exec", body).into()
    };
    // Unsigned.
    assert_eq!(
        refused_without_body(port, &[], UNSENT_BODY).await,
        "HTTP/1.1 401 Unauthorized"
    );
    // Badly signed: another secret, then a flipped digit.
    let other: Vec<(&str, String)> = remote::Secret::new("another-secret-0123456789")
        .sign(HOST, "POST", "/v1/exec", body)
        .into();
    assert_eq!(
        refused_without_body(port, &other, UNSENT_BODY).await,
        "HTTP/1.1 401 Unauthorized"
    );
    let mut flipped = sign(HOST);
    let first = if flipped[2].1.starts_with('0') {
        "1"
    } else {
        "0"
    };
    flipped[2].1.replace_range(0..1, first);
    assert_eq!(
        refused_without_body(port, &flipped, UNSENT_BODY).await,
        "HTTP/1.1 401 Unauthorized"
    );
    // Expired (an hour old) and from the future.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for ts in [now - 3600, now + 3600] {
        let stale: Vec<(&str, String)> = agent
            .secret
            .sign_at(HOST, "POST", "/v1/exec", body, ts)
            .into();
        assert_eq!(
            refused_without_body(port, &stale, UNSENT_BODY).await,
            "HTTP/1.1 401 Unauthorized"
        );
    }
    // Signed for another host sharing the secret.
    assert_eq!(
        refused_without_body(port, &sign("127.0.0.99"), UNSENT_BODY).await,
        "HTTP/1.1 421 Misdirected Request"
    );
    // A good request runs; the same headers again are a replay.
    let good = sign(HOST);
    let mut s = connect([127, 0, 0, 1], port).await;
    s.write_all(head("/v1/exec", &good, body.len()).as_bytes())
        .await
        .unwrap();
    s.write_all(body).await.unwrap();
    let mut first_line = [0u8; 15];
    s.read_exact(&mut first_line).await.unwrap();
    assert_eq!(&first_line, b"HTTP/1.1 200 OK");
    drop(s);
    assert_eq!(
        refused_without_body(port, &good, UNSENT_BODY).await,
        "HTTP/1.1 401 Unauthorized"
    );
    // Over the cap by its content-length, even when well signed.
    assert_eq!(
        refused_without_body(port, &sign(HOST), 200 * 1024 * 1024).await,
        "HTTP/1.1 413 Payload Too Large"
    );
    // A body of unknown length (chunked).
    let mut s = connect([127, 0, 0, 1], port).await;
    let chunked = head("/v1/exec", &sign(HOST), 0).replacen(
        "content-length: 0",
        "transfer-encoding: chunked",
        1,
    );
    s.write_all(chunked.as_bytes()).await.unwrap();
    let text = answer(&mut s, Duration::from_secs(5)).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 411 Length Required"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_and_silent_connections_are_closed_within_seconds() {
    let Some(_sb) = testkit::Sandbox::get() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let agent = agent(&dir, &[]);
    let port = agent.port();
    let started = Instant::now();
    let silent = connect([127, 0, 0, 1], port).await;
    let mut slow = connect([127, 0, 0, 1], port).await;
    // One header byte every 500 ms, for up to 60 s.
    let slow_closed = tokio::spawn(async move {
        slow.write_all(b"POST /v1/ping HTTP/1.1\r\nx-slow: ")
            .await
            .unwrap();
        for _ in 0..120 {
            if slow.write_all(b"a").await.is_err() {
                return Some(started.elapsed());
            }
            let mut byte = [0u8; 1];
            let read = tokio::time::timeout(Duration::from_millis(500), slow.read(&mut byte));
            if let Ok(Ok(0) | Err(_)) = read.await {
                return Some(started.elapsed());
            }
        }
        None
    });
    let mut silent = silent;
    let silent_closed = answer(&mut silent, HEADER_TIMEOUT + CLOSE_MARGIN)
        .await
        .map(|_| started.elapsed());
    let slow_closed = slow_closed.await.unwrap();
    for (what, closed) in [("silent", silent_closed), ("slow-header", slow_closed)] {
        let after = closed.unwrap_or_else(|| panic!("the {what} connection was never closed"));
        assert!(
            after <= HEADER_TIMEOUT + CLOSE_MARGIN,
            "the {what} connection was closed after {after:?}"
        );
    }
    // The agent serves a good request afterwards.
    assert_eq!(
        signed_ping(&agent, [127, 0, 0, 2]).await.0,
        "HTTP/1.1 200 OK"
    );
}

/// A connection from `from` the agent admitted: a signed ping answered on
/// it (kept alive), or `None` when the agent closed it instead.
async fn admitted(agent: &AgentProc, from: [u8; 4]) -> Option<TcpStream> {
    let body = br#"{"op":"ping"}"#;
    let headers: Vec<(&str, String)> = agent.secret.sign(HOST, "POST", "/v1/ping", body).into();
    let mut s = connect(from, agent.port()).await;
    s.write_all(head("/v1/ping", &headers, body.len()).as_bytes())
        .await
        .ok()?;
    s.write_all(body).await.ok()?;
    let mut got = Vec::new();
    let read_answer = async {
        let mut buf = [0u8; 1024];
        // The streamed answer ends with the last chunk's marker.
        while !got.ends_with(b"0\r\n\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        got.starts_with(b"HTTP/1.1 200 OK")
    };
    let ok = tokio::time::timeout(Duration::from_secs(10), read_answer).await;
    matches!(ok, Ok(true)).then_some(s)
}

/// `n` connections from `from` the agent admitted; a connection a test
/// just closed may hold its slot for a moment, so a refused one is tried
/// again, up to 50 times.
async fn hold(agent: &AgentProc, from: [u8; 4], n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..50 {
        if held.len() == n {
            break;
        }
        match admitted(agent, from).await {
            Some(s) => held.push(s),
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert_eq!(
        held.len(),
        n,
        "the agent admitted fewer connections than its caps allow"
    );
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_caps_are_closed_at_once_and_slots_come_back() {
    let Some(_sb) = testkit::Sandbox::get() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let agent = agent(
        &dir,
        &["--max-connections", "8", "--max-connections-per-peer", "4"],
    );
    let port = agent.port();
    let quick = Duration::from_secs(3);
    let mut held = hold(&agent, [127, 0, 0, 5], 4).await;
    // The fifth from the same address is closed at once.
    let mut fifth = connect([127, 0, 0, 5], port).await;
    assert!(
        answer(&mut fifth, quick).await.is_some(),
        "a connection over the per-peer cap was kept"
    );
    // Another address still gets in, up to the global cap.
    held.extend(hold(&agent, [127, 0, 0, 6], 4).await);
    let mut over = connect([127, 0, 0, 7], port).await;
    assert!(
        answer(&mut over, quick).await.is_some(),
        "a connection over the global cap was kept"
    );
    // Closing connections gives their slots back.
    held.truncate(4);
    let back = hold(&agent, [127, 0, 0, 7], 1).await;
    assert_eq!(back.len(), 1);
}

/// One bad request of the flood: unsigned, badly signed with a large
/// declared body, or not HTTP at all. True when the agent answered or
/// closed within 10 s.
async fn bad_request(port: u16, n: usize, forged: &[(&'static str, String)]) -> bool {
    let Ok(Ok(mut s)) =
        tokio::time::timeout(Duration::from_secs(10), TcpStream::connect((HOST, port))).await
    else {
        return false;
    };
    let bytes = match n % 3 {
        0 => head("/v1/exec", &[], 10),
        1 => head("/v1/exec", forged, UNSENT_BODY),
        _ => "GARBAGE \x00\x01\x02\r\n\r\n".to_owned(),
    };
    if s.write_all(bytes.as_bytes()).await.is_err() {
        return true;
    }
    answer(&mut s, Duration::from_secs(10)).await.is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_requests_does_not_keep_a_good_one_waiting() {
    const FLOOD: usize = 10_000;
    const CLIENTS: usize = 8;
    const SLOW_HEADERS: usize = 200;
    const GOOD_WITHIN: Duration = Duration::from_secs(1);
    /// The flood's own bound: an agent that holds bad requests (waits for
    /// their bodies) never gets through them in this time.
    const FLOOD_DEADLINE: Duration = Duration::from_secs(120);
    let Some(_sb) = testkit::Sandbox::get() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let agent = agent(&dir, &[]);
    let port = agent.port();
    let forged: Arc<Vec<(&'static str, String)>> = Arc::new(
        remote::Secret::new("not-the-agents-secret-0123")
            .sign(HOST, "POST", "/v1/exec", b"{}")
            .into(),
    );
    // Slow-header connections from the flooding address, held meanwhile
    // (more than its per-peer cap: the rest are closed at once).
    let mut slow = Vec::new();
    for _ in 0..SLOW_HEADERS {
        let mut s = connect([127, 0, 0, 1], port).await;
        let _ = s.write_all(b"POST /v1/exec HTTP/1.1\r\nx-slow: a").await;
        slow.push(s);
    }
    let sent = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    let deadline = Instant::now() + FLOOD_DEADLINE;
    for _ in 0..CLIENTS {
        let (sent, answered, stop, forged) =
            (sent.clone(), answered.clone(), stop.clone(), forged.clone());
        clients.push(tokio::spawn(async move {
            // Bounded: FLOOD requests at least, and on until the good
            // requests were measured (never more than 10 x FLOOD).
            loop {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                let done = n >= FLOOD && stop.load(Ordering::Relaxed);
                if n >= 10 * FLOOD || done || Instant::now() > deadline {
                    return;
                }
                if bad_request(port, n, &forged).await {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    while sent.load(Ordering::Relaxed) < FLOOD / 5 {
        assert!(Instant::now() < deadline, "the flood did not get going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Right after 2,000 bad requests, with the flood going on: good signed
    // requests from the controller's address, each within the bound.
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let (status, took) = signed_ping(&agent, [127, 0, 0, 2]).await;
        assert_eq!(
            status, "HTTP/1.1 200 OK",
            "a good request failed during the flood"
        );
        worst = worst.max(took);
    }
    let during = sent.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let (sent, answered) = (
        sent.load(Ordering::Relaxed),
        answered.load(Ordering::Relaxed),
    );
    assert!(
        worst < GOOD_WITHIN,
        "a good request took {worst:?} during the flood ({during} bad requests sent by then)"
    );
    assert!(
        sent >= FLOOD,
        "only {sent} bad requests were sent in {FLOOD_DEADLINE:?}"
    );
    // Every bad request got an answer or a close, none was left hanging.
    assert!(
        answered + CLIENTS >= sent.min(10 * FLOOD),
        "{answered} of {sent} bad requests answered"
    );
    drop(slow);
}

/// The agent's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Sends a badly signed head declaring `length` bytes, then up to
/// `length` bytes of junk, until the agent stops taking them.
async fn junk(port: u16, from: [u8; 4], length: usize) {
    let forged: Vec<(&str, String)> = remote::Secret::new("not-the-agents-secret-0123")
        .sign(HOST, "POST", "/v1/exec", b"{}")
        .into();
    let mut s = connect(from, port).await;
    let _ = s
        .write_all(head("/v1/exec", &forged, length).as_bytes())
        .await;
    let chunk = vec![b'x'; 1024 * 1024];
    let send = async {
        for _ in 0..length / chunk.len() {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), send).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_bodies_do_not_grow_the_agent() {
    const CONNECTIONS: u8 = 8;
    const GROWTH_LIMIT_KIB: u64 = 64 * 1024;
    let Some(_sb) = testkit::Sandbox::get() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let agent = agent(&dir, &[]);
    let pid = agent.pid().unwrap();
    let port = agent.port();
    assert_eq!(
        signed_ping(&agent, [127, 0, 0, 2]).await.0,
        "HTTP/1.1 200 OK"
    );
    let before = rss_kib(pid);
    // 8 connections under the cap (60 MiB each, ~480 MiB in all) and 8
    // over it (200 MiB each), from as many addresses.
    let mut sends = Vec::new();
    for i in 0..CONNECTIONS {
        sends.push(tokio::spawn(junk(port, [127, 0, 1, i + 1], 60 << 20)));
        sends.push(tokio::spawn(junk(port, [127, 0, 2, i + 1], 200 << 20)));
    }
    for s in sends {
        s.await.unwrap();
    }
    let after = rss_kib(pid);
    assert!(
        after.saturating_sub(before) < GROWTH_LIMIT_KIB,
        "the agent grew from {before} KiB to {after} KiB"
    );
    assert_eq!(
        signed_ping(&agent, [127, 0, 0, 2]).await.0,
        "HTTP/1.1 200 OK"
    );
}
