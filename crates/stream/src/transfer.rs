//! Orchestrating one transfer: listener (with port bump), sender, progress,
//! and the checks on both ends. Data never passes through the controller.

use crate::error::{Error, Result};
use crate::pipe::{End, Finished};
use crate::ports::{PortAllocator, PortFamily};
use crate::progress::{Progress, Update};
use crate::receiver::{Missing, Receiver};
use crate::registry::Registry;
use crate::report::{Line, Outcome};
use crate::scp::ScpConfig;
use crate::script;
use crate::spec::{Sink, Source};
use remote::Transport;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings of every transfer of a run (from the seed's `[misc]` keys).
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// `socat-port`: first port for streams.
    pub socat_port: u16,
    /// `socat-port2`: first port for files.
    pub socat_port2: u16,
    /// `socat-retry-count`: how often a taken port is bumped by 10 (0 = never);
    /// also the sender's `retry=` count.
    pub retry_count: u32,
    /// Directory on the receiving host for socat logs, usually from
    /// [`socat_log_dir`] (`<store dir>/socat_log/YYYYMMDD`).
    pub log_dir: String,
    /// Which ends compute a SHA-256 of each stream while it flows.
    pub checksum: Checksum,
    /// How long a listener may take to report "listening on".
    pub listen_timeout: Duration,
    /// How long one end may take to finish once the other has.
    pub finish_timeout: Duration,
    /// A bound on each remote command of a transfer (`None`: only the
    /// watchdog's `max-time-sec` bounds it, as in the seed).
    pub command_timeout: Option<Duration>,
    /// `using-scp`: copy files with scp instead of socat.
    pub scp: Option<ScpConfig>,
    /// How often the receiving end reports its byte count while data
    /// flows (to the transfer's [`crate::Progress`]); default 1 s.
    pub progress_every: Duration,
    /// The program on the receiving end (`[misc] receiver`); a host
    /// without the native one gets socat (warned once per run).
    pub receiver: Receiver,
}

/// Which ends of a transfer hash the stream, and when (SHA-256; `openssl
/// dgst` where the host has it, else `sha256sum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checksum {
    /// No hashing: byte counts only.
    #[default]
    Off,
    /// The receiving end hashes what it writes, on a `tee` while the data
    /// flows: the digest of the stored copy, at half the cost of both ends.
    Received,
    /// The receiving host hashes a file sink once it is complete (a
    /// consumer sink as [`Checksum::Received`]). The file is read back,
    /// from the page cache right after the transfer when the store has the
    /// memory: less CPU than a `tee`'s two extra copies of every byte, but
    /// after the stream rather than during it.
    Stored,
    /// Both ends hash on a `tee` and the digests must match.
    BothEnds,
}

impl Checksum {
    /// Whether the sending end hashes.
    pub(crate) fn on_sender(self) -> bool {
        self == Checksum::BothEnds
    }

    /// Whether the receiving end hashes the stream into `sink` while it
    /// flows: socat on a tee, the native receiver always (in its own pass,
    /// which costs less than reading the file back).
    pub(crate) fn on_receiver(self, sink: &Sink, receiver: &Receiver) -> bool {
        match (self, receiver) {
            (Checksum::Off, _) => false,
            (Checksum::Received | Checksum::BothEnds, _)
            | (Checksum::Stored, Receiver::Native { .. }) => true,
            (Checksum::Stored, Receiver::Socat) => matches!(sink, Sink::Command(_)),
        }
    }

    /// Whether the receiving host hashes the stored file afterwards.
    pub(crate) fn after_receipt(self, sink: &Sink, receiver: &Receiver) -> bool {
        self == Checksum::Stored && matches!(sink, Sink::File(_)) && *receiver == Receiver::Socat
    }
}

impl StreamConfig {
    /// The seed's defaults for the given ports and log directory:
    /// `socat-retry-count = 10`, no checksum, 10 s to listen, 60 s to finish.
    pub fn new(socat_port: u16, socat_port2: u16, log_dir: impl Into<String>) -> Self {
        Self {
            socat_port,
            socat_port2,
            retry_count: 10,
            log_dir: log_dir.into(),
            checksum: Checksum::Off,
            listen_timeout: Duration::from_secs(10),
            finish_timeout: Duration::from_secs(60),
            command_timeout: None,
            scp: None,
            progress_every: Duration::from_secs(1),
            receiver: Receiver::Socat,
        }
    }
}

/// `<base>/socat_log/YYYYMMDD` for `date` (the seed uses the local date).
pub fn socat_log_dir(base: &str, date: chrono::NaiveDate) -> String {
    format!(
        "{}/socat_log/{}",
        base.trim_end_matches('/'),
        date.format("%Y%m%d")
    )
}

/// [`socat_log_dir`] for today's local date.
pub fn socat_log_dir_today(base: &str) -> String {
    socat_log_dir(base, chrono::Local::now().date_naive())
}

/// What a successful transfer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferReport {
    /// Bytes sent and received (equal).
    pub bytes: u64,
    /// SHA-256 of the stream (equal on both ends), when computed.
    pub sha256: Option<String>,
    /// The port the listener got (0 for scp).
    pub port: u16,
    /// The receiver's log (empty for scp).
    pub log_file: String,
    /// Wall time from starting the listener to both ends done.
    pub elapsed: Duration,
    /// `socat`, `dbagent receive` or `scp`.
    pub method: &'static str,
}

/// Runs transfers for one run: owns the port allocator, shares the
/// registry (and so the watchdog's stop).
#[derive(Debug)]
pub struct Streamer {
    cfg: StreamConfig,
    ports: PortAllocator,
    registry: Registry,
    /// Hosts found without the native receiver.
    missing_native: Missing,
}

/// A receiver that listens, and how it got there.
struct Listening {
    end: End,
    port: u16,
    log: String,
    /// What listens (socat where the native receiver is missing).
    receiver: Receiver,
}

impl Streamer {
    /// A streamer with its own port counters from `cfg`, registering its
    /// commands in `registry`.
    pub fn new(cfg: StreamConfig, registry: Registry) -> Self {
        let ports = PortAllocator::new(cfg.socat_port, cfg.socat_port2, cfg.retry_count);
        Self {
            cfg,
            ports,
            registry,
            missing_native: Missing::default(),
        }
    }

    /// The port counters (the ports that worked last).
    pub fn ports(&self) -> &PortAllocator {
        &self.ports
    }

    /// The registry its commands go to.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The configuration.
    pub fn config(&self) -> &StreamConfig {
        &self.cfg
    }

    /// Sends `source` from the host of `from` to `sink` on the host of `to`
    /// (the sender connects to `to.host()`), checking both ends' exit
    /// statuses, byte counts and (when configured) SHA-256. With `using-scp`
    /// configured, a file into a file goes by scp instead, as the seed's
    /// `transfer_file_in_conn` does; streams (xbstream, tar) always by socat.
    pub async fn transfer(
        &self,
        from: &Arc<dyn Transport>,
        source: &Source,
        to: &Arc<dyn Transport>,
        sink: &Sink,
        progress: &dyn Progress,
    ) -> Result<TransferReport> {
        if let (Some(scp), Source::File(_), Sink::File(_)) = (&self.cfg.scp, source, sink) {
            return crate::scp::copy(self, scp, from, source, to, sink).await;
        }
        let started = Instant::now();
        let label = format!(
            "{} on {} -> {} on {}",
            source.describe(),
            from.host(),
            sink.describe(),
            to.host()
        );
        let family = source.family();
        // One end counts: the sender `stat`s a file, else the receiver.
        let count_on_receiver = !matches!(source, Source::File(_));
        let listening = self.listen(to, sink, family, count_on_receiver).await?;
        let port = listening.port;
        let sender_script = script::sender(
            source,
            to.host(),
            port,
            self.cfg.retry_count,
            self.cfg.checksum.on_sender(),
        )
        .map_err(Error::Invalid);
        let sender_script = match sender_script {
            Ok(s) => s,
            Err(e) => {
                listening.end.kill(&self.registry).await;
                return Err(e);
            }
        };
        let what = format!("sender of {} to {}:{port}", source.describe(), to.host());
        let mut sender = match End::start(
            from,
            &self.registry,
            sender_script,
            what,
            self.cfg.command_timeout,
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                listening.end.kill(&self.registry).await;
                return Err(e);
            }
        };
        let mut receiver = listening.end;
        let flow_start = Instant::now();
        let report = |bytes: u64, done: bool| {
            progress.update(&Update {
                label: label.clone(),
                bytes,
                total: None,
                elapsed: flow_start.elapsed(),
                done,
            });
        };
        let (sent, mut received) = self
            .run_both(&mut sender, &mut receiver, |n| report(n, false))
            .await;
        if received.failure(&receiver.stages).is_some() && received.stderr.trim().is_empty() {
            // socat writes its errors (a full disk, a refused write) into
            // its log, not stderr: quote them so the cause is in the error.
            received.stderr = socat_log_errors(to, &listening.log).await;
        }
        let route = Route {
            from,
            source,
            to,
            sink,
            port,
            log: &listening.log,
            receiver: &listening.receiver,
        };
        let result = self.judge(&route, &sender, sent, &receiver, received);
        if let Ok(bytes) = &result {
            report(bytes.0, true);
        }
        let (bytes, sha256) = result?;
        let sha256 = self.digest_after_receipt(&route, bytes, sha256).await?;
        Ok(TransferReport {
            bytes,
            sha256,
            port,
            log_file: listening.log.clone(),
            elapsed: started.elapsed(),
            method: listening.receiver.name(),
        })
    }

    /// Size and (when `sha`) SHA-256 of `path` on the host of `to`, read
    /// back by a registered command (the watchdog can stop it).
    pub(crate) async fn stored_digest(
        &self,
        to: &Arc<dyn Transport>,
        path: &str,
        sha: bool,
    ) -> Result<(u64, Option<String>)> {
        let what = format!("checksum of {path}");
        let mut end = End::start(
            to,
            &self.registry,
            script::stored_digest(path, sha),
            what.clone(),
            self.cfg.command_timeout,
        )
        .await?;
        let done = end.finish(|_| {}).await;
        let failed = done.failure(&end.stages);
        match (failed, done.outcome) {
            (
                None,
                Some(Outcome {
                    bytes: Some(n),
                    sha256,
                    ..
                }),
            ) if sha256.is_some() || !sha => Ok((n, sha256)),
            (failed, _) => {
                if let Some(reason) = self.registry.stop_reason() {
                    return Err(Error::Stopped {
                        host: to.host().to_owned(),
                        step: what,
                        reason,
                    });
                }
                Err(Error::Receiver {
                    host: to.host().to_owned(),
                    what: format!("file {path}"),
                    port: 0,
                    detail: failed.unwrap_or_else(|| "no size or digest reported".into()),
                    log: "(no socat log: read back on the host)".to_owned(),
                })
            }
        }
    }

    /// Waits for both ends: when one ends the other gets `finish_timeout`
    /// and is killed after it (a failed sender's receiver gets 2 s: nothing
    /// more will come, and a receiver whose sender never connected would
    /// listen forever); a stopped run kills both (the registry does) and
    /// they get the same bound to report.
    async fn run_both(
        &self,
        sender: &mut End,
        receiver: &mut End,
        on_progress: impl FnMut(u64),
    ) -> (Finished, Finished) {
        let bound = self.cfg.finish_timeout;
        let token = self.registry.token();
        let (send_key, recv_key) = (sender.registration.key(), receiver.registration.key());
        let recv_fut = receiver.finish(on_progress);
        tokio::pin!(recv_fut);
        let send_fut = sender.finish(|_| {});
        tokio::pin!(send_fut);
        let sent = tokio::select! {
            s = &mut send_fut => Some(s),
            r = &mut recv_fut => {
                // The receiver ended first (its consumer failed, or it was
                // killed): the sender's socat fails on the broken connection.
                let s = self.finish_or_kill(bound, &mut send_fut, send_key, "sender").await;
                return (s, r);
            }
            () = token.cancelled() => None,
        };
        let sent = match sent {
            Some(s) => s,
            None => {
                self.finish_or_kill(bound, &mut send_fut, send_key, "sender")
                    .await
            }
        };
        let sender_ok = sent.failure(&[]).is_none() && sent.outcome.is_some();
        let wait = if sender_ok || self.registry.stop_reason().is_some() {
            bound
        } else {
            Duration::from_secs(2).min(bound)
        };
        let received = self
            .finish_or_kill(wait, &mut recv_fut, recv_key, "receiver")
            .await;
        (sent, received)
    }

    /// Awaits an end for `bound`; then kills it and gives it 5 s more to
    /// report how it ended.
    async fn finish_or_kill<F>(
        &self,
        bound: Duration,
        fut: &mut F,
        key: u64,
        which: &str,
    ) -> Finished
    where
        F: std::future::Future<Output = Finished> + Unpin,
    {
        if let Some(done) = bounded(bound, &mut *fut).await {
            return done;
        }
        if let Err(e) = self.registry.kill(key).await {
            tracing::warn!(which, error = %e, "cannot kill a transfer end");
        }
        match bounded(Duration::from_secs(5), fut).await {
            Some(mut done) => {
                done.notes.insert(
                    0,
                    format!("the {which} did not finish within {bound:?} and was killed"),
                );
                done
            }
            None => timed_out(which, bound),
        }
    }

    /// With the after-receipt check on for a file sink, the stored file's
    /// size (must be `bytes`) and SHA-256, read back on its host; else
    /// `sha256` as the transfer computed it.
    async fn digest_after_receipt(
        &self,
        route: &Route<'_>,
        bytes: u64,
        sha256: Option<String>,
    ) -> Result<Option<String>> {
        let Sink::File(path) = route.sink else {
            return Ok(sha256);
        };
        if !self.cfg.checksum.after_receipt(route.sink, route.receiver) {
            return Ok(sha256);
        }
        let (size, digest) = self.stored_digest(route.to, path, true).await?;
        if size != bytes {
            return Err(Error::Mismatch {
                from_host: route.from.host().to_owned(),
                to_host: route.to.host().to_owned(),
                port: route.port,
                sent: bytes,
                received: size,
                detail: format!("{path} changed size after the transfer"),
                log: route.log.to_owned(),
            });
        }
        Ok(digest)
    }

    fn judge(
        &self,
        route: &Route<'_>,
        sender: &End,
        sent: Finished,
        receiver: &End,
        received: Finished,
    ) -> Result<(u64, Option<String>)> {
        let Route {
            from,
            source,
            to,
            sink,
            port,
            log,
            ..
        } = *route;
        let send_fail = sent.failure(&sender.stages);
        let recv_fail = received.failure(&receiver.stages);
        if let Some(reason) = self.registry.stop_reason()
            && (send_fail.is_some() || recv_fail.is_some())
        {
            return Err(Error::Stopped {
                host: from.host().to_owned(),
                step: format!("sending {} to {}:{port}", source.describe(), to.host()),
                reason,
            });
        }
        if let Some(mut detail) = send_fail {
            // The producer writes into the connection: a receiver that died
            // makes it fail too, and the receiver's failure says why.
            if let Some(recv) = &recv_fail {
                detail.push_str(&format!(
                    "; the receiving end on {} failed too: {recv}, log {log}",
                    to.host()
                ));
            }
            return Err(Error::Sender {
                host: from.host().to_owned(),
                what: source.describe(),
                port,
                detail,
            });
        }
        if let Some(detail) = recv_fail {
            return Err(Error::Receiver {
                host: to.host().to_owned(),
                what: sink.describe(),
                port,
                detail,
                log: log.to_owned(),
            });
        }
        let (Some(s), Some(r)) = (sent.outcome, received.outcome) else {
            unreachable_result()?
        };
        let mismatch = |detail: String, sent: u64, received: u64| Error::Mismatch {
            from_host: from.host().to_owned(),
            to_host: to.host().to_owned(),
            port,
            sent,
            received,
            detail,
            log: log.to_owned(),
        };
        // A file sender `stat`s, a file sink is `stat`ed, a consumer sink
        // is counted when the sender streams: at least one count, and two
        // must agree.
        let bytes = match (s.bytes, r.bytes) {
            (Some(sent_bytes), Some(recv_bytes)) if sent_bytes != recv_bytes => {
                return Err(mismatch(
                    "byte counts differ".into(),
                    sent_bytes,
                    recv_bytes,
                ));
            }
            (_, Some(n)) | (Some(n), None) => n,
            (None, None) => {
                return Err(mismatch("no end counted the bytes".into(), 0, 0));
            }
        };
        if self.cfg.checksum.on_sender() {
            match (&s.sha256, &r.sha256) {
                (Some(a), Some(b)) if a == b => {}
                (a, b) => {
                    return Err(mismatch(
                        format!(
                            "SHA-256 differs (sent {}, received {})",
                            a.as_deref().unwrap_or("none"),
                            b.as_deref().unwrap_or("none")
                        ),
                        bytes,
                        bytes,
                    ));
                }
            }
        }
        Ok((bytes, r.sha256))
    }

    /// Starts a listener for `sink` on `to`, bumping the port by 10 while
    /// socat reports "Address already in use", up to `retry_count` times;
    /// remembers the port that worked for the next transfer of `family`.
    async fn listen(
        &self,
        to: &Arc<dyn Transport>,
        sink: &Sink,
        family: PortFamily,
        count_on_receiver: bool,
    ) -> Result<Listening> {
        let host = to.host().to_owned();
        let number = self.registry.next_number();
        let candidates = self.ports.candidates(family);
        let mut tried = Vec::new();
        let mut last_log = String::new();
        let mut candidates = candidates.into_iter().peekable();
        while let Some(&port) = candidates.peek() {
            let receiver = self
                .missing_native
                .for_host(&self.cfg.receiver, &host)
                .clone();
            tried.push(port);
            let log_name = format!("{port}_{number}");
            last_log = format!("{}/{log_name}", self.cfg.log_dir.trim_end_matches('/'));
            let script = script::receiver(&script::Listen {
                port,
                log_dir: &self.cfg.log_dir,
                log_name: &log_name,
                sink,
                sha: self.cfg.checksum.on_receiver(sink, &receiver),
                count: count_on_receiver,
                listen: self.cfg.listen_timeout,
                report_every: self.cfg.progress_every,
                receiver: &receiver,
            })
            .map_err(Error::Invalid)?;
            let what = format!(
                "{} listener on {host}:{port} into {}",
                receiver.name(),
                sink.describe()
            );
            let mut end =
                End::start(to, &self.registry, script, what, self.cfg.command_timeout).await?;
            // The script bounds its own wait; this bound covers a lost transport.
            let first = tokio::time::timeout(
                self.cfg.listen_timeout + Duration::from_secs(10),
                end.next_line(),
            )
            .await;
            match first {
                Ok(Some(Line::Listening)) => {
                    self.ports.remember(family, port);
                    tracing::debug!(%host, port, log = %last_log, "listener up");
                    return Ok(Listening {
                        end,
                        port,
                        log: last_log,
                        receiver,
                    });
                }
                Ok(Some(Line::InUse)) => {
                    let _ = bounded(Duration::from_secs(5), end.finish(|_| {})).await;
                    tracing::info!(%host, port, "socat port is occupied, trying the next one");
                    candidates.next();
                    continue;
                }
                Ok(Some(Line::NoNative)) => {
                    // The same port again, with socat.
                    let _ = bounded(Duration::from_secs(5), end.finish(|_| {})).await;
                    tried.pop();
                    if let Receiver::Native { program } = &receiver
                        && self.missing_native.insert(&host)
                    {
                        tracing::warn!(
                            %host,
                            program,
                            "the native receiver is not installed on this host ([misc] receiver-bin); \
                             its transfers use socat"
                        );
                    }
                    continue;
                }
                Ok(Some(Line::ListenTimeout)) | Err(_) => {
                    end.kill(&self.registry).await;
                    return Err(Error::ListenTimeout {
                        host,
                        port,
                        after: self.cfg.listen_timeout,
                        log: last_log,
                    });
                }
                Ok(other) => {
                    return Err(self.listener_ended(end, other, host, port, last_log).await);
                }
            }
        }
        let port = tried.last().copied().unwrap_or(0);
        Err(Error::PortsInUse {
            host,
            port,
            tries: tried.len(),
            ports: tried
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            log: last_log,
        })
    }
}

impl Streamer {
    /// Why a listener script ended (or said something else) before it was
    /// listening: the run's stop, or the script's own words, exit status
    /// and stderr. One that does not end within 5 s is killed.
    async fn listener_ended(
        &self,
        mut end: End,
        said: Option<Line>,
        host: String,
        port: u16,
        log: String,
    ) -> Error {
        let finished = bounded(Duration::from_secs(5), end.finish(|_| {})).await;
        if let Some(reason) = self.registry.stop_reason() {
            return Error::Stopped {
                host,
                step: format!("listener on port {port}"),
                reason,
            };
        }
        let mut detail = match said {
            Some(Line::Error(e)) => e,
            Some(Line::Failed(codes)) => {
                format!("the listener ended before listening (exit {codes})")
            }
            Some(line) => format!("unexpected output {line:?}"),
            None => "the listener script ended without a word".to_owned(),
        };
        if let Some(f) = finished {
            if let Ok(code) = f.status {
                detail.push_str(&format!(" (script exit {code})"));
            }
            if !f.stderr.trim().is_empty() {
                detail.push_str(&format!(
                    "; stderr: {}",
                    f.stderr.split_whitespace().collect::<Vec<_>>().join(" ")
                ));
            }
        } else {
            end.kill(&self.registry).await;
        }
        Error::Listener {
            host,
            port,
            detail,
            log,
        }
    }
}

fn unreachable_result<T>() -> Result<T> {
    // `failure` is None only with an outcome on both ends.
    Err(Error::Invalid(
        "internal: a finished end without a result".into(),
    ))
}

/// Awaits `fut` for at most `bound`.
async fn bounded<F: std::future::Future>(bound: Duration, fut: F) -> Option<F::Output> {
    tokio::time::timeout(bound, fut).await.ok()
}

fn timed_out(which: &str, bound: Duration) -> Finished {
    Finished {
        outcome: None,
        notes: vec![format!("the {which} did not finish within {bound:?}")],
        status: Err("timed out".into()),
        stderr: String::new(),
    }
}

/// The two ends of one transfer, once its listener is up.
#[derive(Clone, Copy)]
struct Route<'a> {
    from: &'a Arc<dyn Transport>,
    source: &'a Source,
    to: &'a Arc<dyn Transport>,
    sink: &'a Sink,
    /// The listener's port.
    port: u16,
    /// The listener's log on `to`.
    log: &'a str,
    /// What listened.
    receiver: &'a Receiver,
}

#[cfg(test)]
mod tests {
    use super::*;
    use remote::Command;

    #[test]
    fn each_checksum_mode_hashes_where_it_says() {
        let file = Sink::file("/f");
        let consumer = Sink::command(Command::new("cat"));
        let socat = Receiver::Socat;
        let ends = |c: Checksum, sink: &Sink| {
            (
                c.on_sender(),
                c.on_receiver(sink, &socat),
                c.after_receipt(sink, &socat),
            )
        };
        assert_eq!(ends(Checksum::Off, &file), (false, false, false));
        assert_eq!(ends(Checksum::Received, &file), (false, true, false));
        assert_eq!(ends(Checksum::BothEnds, &consumer), (true, true, false));
        // Stored reads a file back instead of a tee; a consumer has no file.
        assert_eq!(ends(Checksum::Stored, &file), (false, false, true));
        assert_eq!(ends(Checksum::Stored, &consumer), (false, true, false));
        // The native receiver hashes as it writes: nothing is read back.
        let native = Receiver::Native {
            program: "dbagent".into(),
        };
        for sink in [&file, &consumer] {
            assert!(Checksum::Stored.on_receiver(sink, &native));
            assert!(!Checksum::Stored.after_receipt(sink, &native));
            assert!(!Checksum::Off.on_receiver(sink, &native));
        }
    }
}

/// The error lines (`... socat[pid] E ...`) at the end of a socat log on
/// `host`, joined; empty when there are none or the log cannot be read.
async fn socat_log_errors(host: &Arc<dyn Transport>, log: &str) -> String {
    let tail = remote::Command::new("tail")
        .args(["-c", "4096", "--"])
        .arg(log);
    match host.exec(&tail, Duration::from_secs(10)).await {
        Ok(out) if out.success() => socat_errors(&out.stdout_str()),
        _ => String::new(),
    }
}

/// The error lines of socat log text (` E ` after the program's pid), the
/// last three at most, joined by `; `.
fn socat_errors(log: &str) -> String {
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("] E "))
        .map(str::trim)
        .collect();
    errors[errors.len().saturating_sub(3)..].join("; ")
}

#[cfg(test)]
mod socat_log_tests {
    #[test]
    fn only_the_last_error_lines_are_quoted() {
        let log = "2026/12/04 20:41:40 socat[7] N listening on AF=2 0.0.0.0:29999\n\
                   2026/12/04 20:41:41 socat[7] E write(6, 0x55, 8192): No space left on device\n\
                   2026/12/04 20:41:41 socat[7] N exit(1)\n";
        assert_eq!(
            super::socat_errors(log),
            "2026/12/04 20:41:41 socat[7] E write(6, 0x55, 8192): No space left on device"
        );
        assert_eq!(super::socat_errors("socat[1] N fine\n"), "");
        let many: String = (0..5).map(|i| format!("socat[1] E e{i}\n")).collect();
        assert_eq!(
            super::socat_errors(&many),
            "socat[1] E e2; socat[1] E e3; socat[1] E e4"
        );
    }
}
