//! The adm-agent refuses replayed and badly signed requests (raw HTTP, so
//! the test controls every byte).

#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;

mod common;

fn post(port: u16, path: &str, headers: &[(&str, String)], body: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.12", port)).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.12\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    text.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn replayed_and_badly_signed_requests_are_refused() {
    let Some(_sb) = testkit::Sandbox::get() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let agent = common::AgentProc::adm("127.0.0.12", dir.path().join("secret"));
    let port = agent.port();
    let body = br#"{"op":"exec","id":"a1b2c3","command":{"program":{"exec":{"program":"true","args":[]}}},"timeout_ms":5000}"#;
    let headers: Vec<(&str, String)> = agent
        .secret
        .sign(common::HOST, "POST", "/v1/exec", body)
        .into();
    assert_eq!(post(port, "/v1/exec", &headers, body), "HTTP/1.1 200 OK");
    // The very same bytes again: a replay.
    assert_eq!(
        post(port, "/v1/exec", &headers, body),
        "HTTP/1.1 401 Unauthorized"
    );
    // A fresh signature over another body.
    let mut forged: Vec<(&str, String)> = agent
        .secret
        .sign(common::HOST, "POST", "/v1/exec", b"{}")
        .into();
    assert_eq!(
        post(port, "/v1/exec", &forged, body),
        "HTTP/1.1 401 Unauthorized"
    );
    // A flipped signature digit.
    let sig = &mut forged[2].1;
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    sig.replace_range(0..1, flipped);
    assert_eq!(
        post(port, "/v1/exec", &forged, b"{}"),
        "HTTP/1.1 401 Unauthorized"
    );
    // No headers at all.
    assert_eq!(
        post(port, "/v1/ping", &[], b""),
        "HTTP/1.1 401 Unauthorized"
    );
}
