//! Fixtures: ssh transports to the sandbox's hosts, private directories on
//! the source host and the store, ports derived from the sandbox's.

#![allow(clippy::unwrap_used, dead_code)]

use remote::{Command, Output, Ssh, SshConfig, Transport};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stream::{Progress, Update};

pub const T: Duration = Duration::from_secs(60);

/// One test's world: a source host, the store, and a directory on each.
pub struct Fx {
    pub sb: testkit::Sandbox,
    pub src: Arc<dyn Transport>,
    pub store: Arc<dyn Transport>,
    /// Private directory on the source host.
    pub src_dir: String,
    /// Private directory under STORE_DIR.
    pub store_dir: String,
    _state: tempfile::TempDir,
}

pub fn ssh(sb: &testkit::Sandbox, host: &str, state: PathBuf) -> Arc<dyn Transport> {
    let mut cfg = SshConfig::new(sb.var("LOGIN_USER"), state);
    cfg.port = sb.var("SSH_PORT").parse().unwrap();
    cfg.key = Some(PathBuf::from(sb.var("SSH_KEY")));
    Arc::new(Ssh::new(host, cfg))
}

impl Fx {
    /// `None` when there is no sandbox (outside CI).
    pub async fn new(name: &str, src_host: &str) -> Option<Fx> {
        let sb = testkit::Sandbox::get()?;
        let state = tempfile::tempdir().unwrap();
        let src = ssh(&sb, src_host, state.path().into());
        let store = ssh(&sb, sb.var("STORE_HOST"), state.path().into());
        let tag = remote::CommandId::random().0[..8].to_owned();
        let src_dir = format!("/tmp/dbstream-{name}-{tag}");
        let store_dir = format!("{}/stream-test-{name}-{tag}", sb.var("STORE_DIR"));
        let fx = Fx {
            sb,
            src,
            store,
            src_dir,
            store_dir,
            _state: state,
        };
        fx.ok(&fx.src, &format!("mkdir -p {}", fx.src_dir)).await;
        fx.ok(&fx.store, &format!("mkdir -p {}", fx.store_dir))
            .await;
        Some(fx)
    }

    /// Runs a shell snippet, asserting success; returns stdout.
    pub async fn ok(&self, t: &Arc<dyn Transport>, snippet: &str) -> String {
        let out = sh(t, snippet).await;
        assert!(
            out.success(),
            "{snippet} on {} failed: {}",
            t.host(),
            out.stderr_str()
        );
        out.stdout_str()
    }

    /// `sha256sum` of a file on a host.
    pub async fn sha(&self, t: &Arc<dyn Transport>, path: &str) -> String {
        self.ok(t, &format!("sha256sum {path} | cut -c1-64"))
            .await
            .trim()
            .to_owned()
    }

    /// A port of the sandbox's `key` plus `offset` (tests run in parallel
    /// with each other and with other crates' tests, which use the bare ports).
    pub fn port(&self, key: &str, offset: u16) -> u16 {
        self.sb.var(key).parse::<u16>().unwrap() + offset
    }

    pub fn log_dir(&self) -> String {
        stream::socat_log_dir_today(&self.store_dir)
    }

    pub async fn cleanup(&self) {
        let _ = sh(&self.src, &format!("rm -rf {}", self.src_dir)).await;
        let _ = sh(&self.store, &format!("rm -rf {}", self.store_dir)).await;
    }
}

pub async fn sh(t: &Arc<dyn Transport>, snippet: &str) -> Output {
    t.exec(&Command::shell(snippet), T).await.unwrap()
}

/// Collects progress reports.
#[derive(Default)]
pub struct Collect {
    pub updates: Mutex<Vec<Update>>,
    pub notify: tokio::sync::Notify,
}

impl Progress for Collect {
    fn update(&self, u: &Update) {
        self.updates.lock().unwrap().push(u.clone());
        self.notify.notify_waiters();
    }
}

impl Collect {
    pub fn max_bytes(&self) -> u64 {
        self.updates
            .lock()
            .unwrap()
            .iter()
            .map(|u| u.bytes)
            .max()
            .unwrap_or(0)
    }

    /// Waits until some report shows at least `bytes`.
    pub async fn until(&self, bytes: u64, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.max_bytes() < bytes {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no progress past {bytes} bytes within {within:?} (got {})",
                self.max_bytes()
            );
            let _ = tokio::time::timeout(Duration::from_millis(200), self.notify.notified()).await;
        }
    }
}

/// Is `pid` alive on the host of `t`?
pub async fn alive(t: &Arc<dyn Transport>, pid: &str) -> bool {
    sh(t, &format!("kill -0 {pid}")).await.success()
}
