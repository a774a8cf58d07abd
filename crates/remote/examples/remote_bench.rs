//! `cargo xtask bench remote`: round-trip latency of `echo 1` (200 calls,
//! median and p99, after a warm-up) and throughput of a 1 GiB stdout stream
//! for every transport against the sandbox (its sshd and agents on
//! `STORE_HOST`). Prints a Markdown table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use remote::{
    Adm, AdmConfig, Broker, Command, Local, Rabbit, Secret, Ssh, SshConfig, Transport, Zeroizing,
};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt as _;

const CALLS: usize = 200;
const GIB: u64 = 1 << 30;

async fn latency(t: &dyn Transport) -> (Duration, Duration) {
    let echo = Command::new("echo").arg("1");
    for _ in 0..10 {
        t.exec(&echo, Duration::from_secs(30))
            .await
            .expect("warm-up");
    }
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        let out = t
            .exec(&echo, Duration::from_secs(30))
            .await
            .expect("echo 1");
        times.push(start.elapsed());
        assert_eq!(out.stdout, b"1\n");
    }
    times.sort();
    (times[CALLS / 2], times[CALLS * 99 / 100])
}

async fn throughput(t: &dyn Transport) -> f64 {
    let cmd = Command::new("head")
        .arg("-c")
        .arg(GIB.to_string())
        .arg("/dev/zero");
    let start = Instant::now();
    let mut running = t
        .spawn(&cmd, Some(Duration::from_secs(600)))
        .await
        .expect("spawn");
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = running.stdout.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    let status = running.wait().await.expect("wait");
    assert_eq!((status, total), (0, GIB));
    GIB as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let sb = testkit::Sandbox::get()
        .expect("the benchmark needs the sandbox (`cargo xtask sandbox up`)");
    let host = sb.var("STORE_HOST").to_owned();
    let state = tempfile::tempdir().unwrap();
    let mut ssh_cfg = SshConfig::new(sb.var("LOGIN_USER"), state.path());
    ssh_cfg.port = sb.var("SSH_PORT").parse().unwrap();
    ssh_cfg.password = Some(Zeroizing::new(sb.var("LOGIN_PASSWORD").to_owned()));
    let secret =
        Secret::from_file(&PathBuf::from(sb.var("ADM_AGENT_SECRET_FILE"))).expect("adm secret");
    let adm_port: u16 = sb.var("ADM_AGENT_PORT").parse().unwrap();
    // The rabbit agents' secret, when the sandbox gave them one.
    let rabbit_secret = sb.dir.join("agents").join("rabbit.secret");
    let rabbit_secret = rabbit_secret
        .exists()
        .then(|| Secret::from_file(&rabbit_secret).expect("rabbit secret"));
    let broker = Broker::with_secret(sb.var("RABBITMQ_URI"), rabbit_secret).unwrap();
    let transports: Vec<Box<dyn Transport>> = vec![
        Box::new(Local::default()),
        Box::new(Ssh::new(host.clone(), ssh_cfg)),
        Box::new(Adm::new(host.clone(), AdmConfig::new(adm_port, secret)).unwrap()),
        Box::new(Rabbit::new(broker, host.clone(), "rds-dbinit")),
    ];
    println!("| transport | `echo 1` median | `echo 1` p99 | 1 GiB stdout |");
    println!("| --- | --- | --- | --- |");
    for t in &transports {
        let (median, p99) = latency(t.as_ref()).await;
        let mbps = throughput(t.as_ref()).await;
        println!(
            "| {} | {:.2} ms | {:.2} ms | {:.0} MiB/s |",
            t.kind(),
            median.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            mbps
        );
    }
}
