//! The adm-agent over TLS: what goes wrong must be refused with an error
//! that names the host and says what to fix, and must run nothing. (The
//! cases that work, echo to kill, run in the conformance suite's `adm_tls`
//! group.)

#![allow(clippy::unwrap_used)]

use remote::{Adm, AdmConfig, Command, Error, Transport};
use std::path::Path;
use std::time::Duration;

mod common;
use common::pki::Pki;
use common::{AgentProc, HOST};

const T: Duration = Duration::from_secs(10);

/// A command that leaves `marker` behind if it ever runs.
fn touch(marker: &Path) -> Command {
    Command::new("touch").arg(marker.to_string_lossy())
}

fn client(agent: &AgentProc, ca: Option<&Path>) -> Adm {
    let mut cfg = AdmConfig::new(agent.port(), agent.secret.clone());
    cfg.connect_timeout = Duration::from_secs(2);
    cfg.tls_ca_file = ca.map(Path::to_path_buf);
    Adm::new(HOST, cfg).unwrap()
}

/// Runs `touch marker` and returns the error's message; the command must
/// not have run.
async fn refused(t: &Adm, marker: &Path) -> (Error, String) {
    let err = t.exec(&touch(marker), T).await.unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with(&format!("{HOST}: ")), "{text}");
    assert!(!marker.exists(), "the command ran despite: {text}");
    (err, text)
}

#[tokio::test]
async fn a_client_trusting_another_ca_is_refused() {
    let Some(_sb) = testkit::Sandbox::get() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "agent", &[HOST]);
    let other = Pki::new(dir.path(), "other", &[HOST]);
    let agent = AgentProc::adm_tls(HOST, dir.path().join("secret"), &pki);
    let marker = dir.path().join("ran");
    let (err, text) = refused(&client(&agent, Some(&other.ca)), &marker).await;
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(
        text.contains("not issued by a CA in") && text.contains("other-ca.pem"),
        "{text}"
    );
    // The right CA on the same agent works: the refusal was the CA's.
    let ok = client(&agent, Some(&pki.ca))
        .exec(&touch(&marker), T)
        .await
        .unwrap();
    assert_eq!(ok.exit_status, 0);
    assert!(marker.exists());
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused() {
    let Some(_sb) = testkit::Sandbox::get() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "agent", &["127.0.0.13", "db-1.example"]);
    let agent = AgentProc::adm_tls(HOST, dir.path().join("secret"), &pki);
    let marker = dir.path().join("ran");
    let (_, text) = refused(&client(&agent, Some(&pki.ca)), &marker).await;
    assert!(
        text.contains(&format!("not valid for the name \"{HOST}\"")),
        "{text}"
    );
}

#[tokio::test]
async fn a_plain_http_client_is_told_the_agent_wants_tls() {
    let Some(_sb) = testkit::Sandbox::get() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "agent", &[HOST]);
    let agent = AgentProc::adm_tls(HOST, dir.path().join("secret"), &pki);
    let marker = dir.path().join("ran");
    let plain = client(&agent, None);
    let (_, text) = refused(&plain, &marker).await;
    assert!(
        text.contains("400") && text.contains("serves HTTPS only") && text.contains("tls-ca-file"),
        "{text}"
    );
    // A large body (the command's stdin) gets the same answer, not a reset.
    let big = touch(&marker).stdin(vec![7u8; 4 << 20]);
    let text = plain.exec(&big, T).await.unwrap_err().to_string();
    assert!(text.contains("serves HTTPS only"), "{text}");
    assert!(!marker.exists());
    // The agent still serves TLS clients afterwards.
    let ok = client(&agent, Some(&pki.ca));
    ok.ping().await.unwrap();
}

#[tokio::test]
async fn a_tls_client_is_told_the_agent_speaks_plain_http() {
    let Some(_sb) = testkit::Sandbox::get() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "agent", &[HOST]);
    let agent = AgentProc::adm(HOST, dir.path().join("secret"));
    let marker = dir.path().join("ran");
    let (_, text) = refused(&client(&agent, Some(&pki.ca)), &marker).await;
    assert!(text.contains("does not speak TLS"), "{text}");
}

#[test]
fn an_unusable_ca_file_is_named_when_the_client_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-ca.pem");
    let cfg =
        AdmConfig::new(1, remote::Secret::new("0123456789abcdef-x")).with_tls_ca_file(&missing);
    let err = Adm::new(HOST, cfg).unwrap_err().to_string();
    assert!(err.contains("no-such-ca.pem"), "{err}");
}

/// Runs `dbagent adm ...` expecting it to exit at once; returns (code, stderr).
fn agent_fails(args: &[&str]) -> (i32, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dbagent"))
        .arg("adm")
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = testkit::poll::Poll::within(Duration::from_secs(20))
        .every(Duration::from_millis(20))
        .child(&format!("dbagent adm {args:?}"), &mut child)
        .unwrap_or_else(|e| panic!("{e}: killed"));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code().unwrap_or(-1), stderr)
}

#[test]
fn the_agent_refuses_to_start_with_bad_tls_files() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "agent", &[HOST]);
    let other = Pki::new(dir.path(), "other", &[HOST]);
    let secret = dir.path().join("secret");
    common::write_secret(&secret, "0123456789abcdef-secret");
    let port = common::free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let s = secret.to_str().unwrap();
    let base = ["--listen", listen.as_str(), "--secret-file", s];
    let with = |cert: &Path, key: &Path| {
        let mut a: Vec<String> = base.iter().map(|x| (*x).to_owned()).collect();
        a.extend([
            "--tls-cert".into(),
            cert.display().to_string(),
            "--tls-key".into(),
            key.display().to_string(),
        ]);
        a
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        agent_fails(&refs)
    };
    // A key that is not the certificate's.
    let (code, err) = run(with(&pki.cert, &other.key));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with("ERROR: ") && err.contains("other-key.pem") && err.contains(&listen),
        "{err}"
    );
    assert!(!err.contains("PRIVATE KEY"), "{err}");
    // A missing key file.
    let missing = dir.path().join("missing-key.pem");
    let (code, err) = run(with(&pki.cert, &missing));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("private key") && err.contains("missing-key.pem"),
        "{err}"
    );
    // A certificate without its key is a usage error.
    let mut args: Vec<String> = base.iter().map(|x| (*x).to_owned()).collect();
    args.extend(["--tls-cert".into(), pki.cert.display().to_string()]);
    let (code, err) = run(args);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--tls-key"), "{err}");
}

/// A log written to a file or a pipe (how agents run) holds no terminal
/// colour codes.
#[test]
fn the_log_has_no_colour_codes_off_a_terminal() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    common::write_secret(&secret, "0123456789abcdef-colour");
    let listen = format!("127.0.0.1:{}", common::free_port());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dbagent"))
        .args(["adm", "--listen", &listen, "--secret-file"])
        .arg(&secret)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stderr).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20));
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("dbagent logged nothing in 20 s");
    assert!(line.contains("listening"), "{line:?}");
    assert!(
        !line.contains('\x1b'),
        "colour codes in a piped log: {line:?}"
    );
}
