//! Throughput of a 1 GiB file transfer through the stream crate against the
//! raw `cat | socat` pipeline run by hand, on the running sandbox. Prints a
//! Markdown table on stdout (`cargo xtask bench stream` records it).
//!
//! Rows, each the best of 3 interleaved rounds, source 127.0.0.11 -> store:
//! * raw: `socat -u tcp-listen:P,reuseaddr open:F,creat,trunc` started as a
//!   local process, polled with `ss -ltn` until it listens, then
//!   `cat F | socat -u - TCP4:store:P` (no ssh, no checks: the floor);
//! * the crate over the `local` transport (same processes, plus the
//!   crate's scripts, pipefail, stat, log and checks);
//! * the crate over ssh (what a backup does), without and with SHA-256.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use remote::{Command, Local, Ssh, SshConfig, Transport};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stream::{NoProgress, Registry, Sink, Source, StreamConfig, Streamer};

const SIZE: u64 = 1 << 30;
const ROUNDS: usize = 3;

fn ssh(sb: &testkit::Sandbox, host: &str, state: PathBuf) -> Arc<dyn Transport> {
    let mut cfg = SshConfig::new(sb.var("LOGIN_USER"), state);
    cfg.port = sb.var("SSH_PORT").parse().unwrap();
    cfg.key = Some(PathBuf::from(sb.var("SSH_KEY")));
    Arc::new(Ssh::new(host, cfg))
}

async fn sh(t: &Arc<dyn Transport>, snippet: &str) -> String {
    let out = t
        .exec(&Command::shell(snippet), Duration::from_secs(600))
        .await
        .unwrap();
    assert!(out.success(), "{snippet}: {}", out.stderr_str());
    out.stdout_str()
}

/// The raw pipeline by hand; returns its wall time.
fn raw(store_host: &str, port: u16, src: &str, dest: &str) -> Duration {
    let start = Instant::now();
    let mut listener = std::process::Command::new("socat")
        .args([
            "-u",
            &format!("tcp-listen:{port},reuseaddr"),
            &format!("open:{dest},creat,trunc"),
        ])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = std::process::Command::new("ss")
            .args(["-Hltn", &format!("sport = :{port}")])
            .output()
            .unwrap();
        if !out.stdout.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "raw listener did not listen");
        std::thread::sleep(Duration::from_millis(5));
    }
    let sender = std::process::Command::new("bash")
        .args([
            "-c",
            &format!("cat {src} | socat -u - TCP4:{store_host}:{port}"),
        ])
        .status()
        .unwrap();
    let received = listener.wait().unwrap();
    assert!(sender.success() && received.success());
    start.elapsed()
}

/// Writes back dirty pages first, so no row pays for the previous row's
/// writeback (1 GiB of dirty page cache otherwise throttles the next writer).
fn settle() {
    let _ = std::process::Command::new("sync").status();
}

fn mib_s(d: Duration) -> f64 {
    SIZE as f64 / d.as_secs_f64() / (1 << 20) as f64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sb = testkit::Sandbox::get().expect("the sandbox must be up (cargo xtask sandbox up)");
    let state = tempfile::tempdir().unwrap();
    let store_host = sb.var("STORE_HOST").to_owned();
    let src = ssh(&sb, "127.0.0.11", state.path().into());
    let store = ssh(&sb, &store_host, state.path().into());
    let local: Arc<dyn Transport> = Arc::new(Local::default());
    let tag = remote::CommandId::random().0[..8].to_owned();
    let src_dir = format!("/tmp/dbstream-bench-{tag}");
    let dest_dir = format!("{}/stream-bench-{tag}", sb.var("STORE_DIR"));
    sh(
        &src,
        &format!("mkdir -p {src_dir} && head -c {SIZE} /dev/urandom > {src_dir}/data.bin"),
    )
    .await;
    sh(&store, &format!("mkdir -p {dest_dir}")).await;
    let file = format!("{src_dir}/data.bin");
    let dest = format!("{dest_dir}/data.bin");
    let port = sb.var("SOCAT_PORT2").parse::<u16>().unwrap() + 900;
    // Local processes run as this user, ssh ones as the login user: the
    // local rows write into a directory of this process's own.
    let mine = tempfile::tempdir().unwrap();
    let mine_dir = mine.path().display().to_string();
    let streamer = |checksum: stream::Checksum, base: &str| {
        let logs = stream::socat_log_dir_today(base);
        let mut cfg = StreamConfig::new(port, port, logs);
        cfg.retry_count = 5;
        cfg.checksum = checksum;
        Streamer::new(cfg, Registry::new())
    };
    let (local_plain, plain, hashed) = (
        streamer(stream::Checksum::Off, &mine_dir),
        streamer(stream::Checksum::Off, &dest_dir),
        streamer(stream::Checksum::BothEnds, &dest_dir),
    );
    let mut best = [Duration::MAX; 4];
    for round in 0..ROUNDS {
        // Warm the page cache of the source the same way before each row.
        sh(&src, &format!("cat {file} > /dev/null")).await;
        let t = raw(
            &store_host,
            port + 50,
            &file,
            &format!("{mine_dir}/data.raw"),
        );
        best[0] = best[0].min(t);
        for (i, (from, to, s, target)) in [
            (
                &local,
                &local,
                &local_plain,
                format!("{mine_dir}/data.local"),
            ),
            (&src, &store, &plain, dest.clone()),
            (&src, &store, &hashed, dest.clone()),
        ]
        .into_iter()
        .enumerate()
        {
            settle();
            let started = Instant::now();
            let r = s
                .transfer(
                    from,
                    &Source::file(&file),
                    to,
                    &Sink::file(&target),
                    &NoProgress,
                )
                .await
                .unwrap();
            let t = started.elapsed();
            assert_eq!(r.bytes, SIZE);
            best[i + 1] = best[i + 1].min(t);
        }
        eprintln!("round {} done", round + 1);
    }
    sh(&src, &format!("rm -rf {src_dir}")).await;
    sh(&store, &format!("rm -rf {dest_dir}")).await;
    let base = best[0];
    let rows = [
        "raw `cat \\| socat` by hand (local processes)",
        "stream crate, local transport",
        "stream crate, ssh transports",
        "stream crate, ssh transports, SHA-256 both ends",
    ];
    println!("| path | best of {ROUNDS} | MiB/s | overhead vs raw |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, t) in rows.iter().zip(best) {
        let overhead = (t.as_secs_f64() / base.as_secs_f64() - 1.0) * 100.0;
        println!(
            "| {name} | {:.2} s | {:.0} | {overhead:+.1} % |",
            t.as_secs_f64(),
            mib_s(t)
        );
    }
}
