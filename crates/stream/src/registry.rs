//! The registry of running remote commands (the seed's `command_dict`), and
//! the run's stop flag (`backup_need_stop`), as one explicit shared object.
//!
//! Every long-running remote command of a run (listeners, senders, a
//! backup) is registered with the transport that started it, so stopping
//! the run kills each on its own host through that transport (its whole
//! process group), instead of the seed's `ps ajx | grep` and `kill -9`.

use crate::error::StopReason;
use remote::{CommandId, Transport};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

/// A running command as the registry lists it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The registry's key (also used in socat log names).
    pub key: u64,
    /// The host it runs on.
    pub host: String,
    /// `ssh`, `local`, `adm-agent`, `rabbit-agent`.
    pub transport: &'static str,
    /// The transport's id of the command.
    pub id: CommandId,
    /// What it is, e.g. `socat listener on 127.0.0.50:29999`.
    pub what: String,
}

struct Slot {
    entry: Entry,
    transport: Arc<dyn Transport>,
}

#[derive(Default)]
struct Inner {
    slots: Mutex<BTreeMap<u64, Slot>>,
    stopped: Mutex<Option<StopReason>>,
    next: AtomicU64,
    token: CancellationToken,
}

/// The commands a run has going, shared (`Clone` is cheap: an `Arc`).
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("running", &self.entries().len())
            .field("stopped", &self.stop_reason())
            .finish()
    }
}

/// Unregisters its command when dropped (the seed's `del_exec_command_info`).
#[derive(Debug)]
#[must_use = "the command is unregistered when this is dropped"]
pub struct Registration {
    registry: Registry,
    key: u64,
}

impl Registration {
    /// The registry key.
    pub fn key(&self) -> u64 {
        self.key
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.registry.inner.slots).remove(&self.key);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps stay consistent across a panic in another holder.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh number for naming things of this run (the seed's
    /// `get_command_id`: 1, 2, 3 ...), e.g. socat logs `<port>_<n>`.
    pub fn next_number(&self) -> u64 {
        self.inner.next.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Records a command `transport` started. Refused (with the reason)
    /// once the run is stopped: the caller must then kill it itself.
    pub fn register(
        &self,
        transport: &Arc<dyn Transport>,
        id: &CommandId,
        what: impl Into<String>,
    ) -> Result<Registration, StopReason> {
        // Hold the stop lock while inserting so `stop` cannot miss it.
        let stopped = lock(&self.inner.stopped);
        if let Some(reason) = stopped.as_ref() {
            return Err(reason.clone());
        }
        let key = self.next_number();
        let entry = Entry {
            key,
            host: transport.host().to_owned(),
            transport: transport.kind(),
            id: id.clone(),
            what: what.into(),
        };
        tracing::debug!(key, host = %entry.host, what = %entry.what, "registered remote command");
        lock(&self.inner.slots).insert(
            key,
            Slot {
                entry,
                transport: transport.clone(),
            },
        );
        Ok(Registration {
            registry: self.clone(),
            key,
        })
    }

    /// The commands running now.
    pub fn entries(&self) -> Vec<Entry> {
        lock(&self.inner.slots)
            .values()
            .map(|s| s.entry.clone())
            .collect()
    }

    /// Why the run was stopped, if it was.
    pub fn stop_reason(&self) -> Option<StopReason> {
        lock(&self.inner.stopped).clone()
    }

    /// Cancelled when the run is stopped; engines `select!` on it.
    pub fn token(&self) -> CancellationToken {
        self.inner.token.clone()
    }

    /// Stops the run: refuses new commands, cancels [`Registry::token`] and
    /// kills every registered command on its host. The first reason wins;
    /// later calls only kill what is still registered. Returns the kill
    /// failures (a command that already ended is not one).
    pub async fn stop(&self, reason: StopReason) -> Vec<(Entry, remote::Error)> {
        {
            let mut stopped = lock(&self.inner.stopped);
            if stopped.is_none() {
                tracing::warn!(%reason, "stopping the run");
                *stopped = Some(reason);
            }
        }
        self.inner.token.cancel();
        let victims: Vec<(Entry, Arc<dyn Transport>)> = lock(&self.inner.slots)
            .values()
            .map(|s| (s.entry.clone(), s.transport.clone()))
            .collect();
        let kills = victims.into_iter().map(|(entry, t)| async move {
            tracing::info!(host = %entry.host, what = %entry.what, id = %entry.id, "killing");
            match t.kill(&entry.id).await {
                Ok(()) | Err(remote::Error::NoSuchCommand { .. }) => None,
                Err(e) => Some((entry, e)),
            }
        });
        let mut failures = Vec::new();
        for f in kills {
            // Sequential on purpose: kills are a few ms each and a host
            // with many commands should not get a burst of sessions.
            if let Some(failure) = f.await {
                tracing::warn!(host = %failure.0.host, what = %failure.0.what, error = %failure.1, "kill failed");
                failures.push(failure);
            }
        }
        failures
    }

    /// Kills one registered command on its host (and unregisters it).
    pub async fn kill(&self, key: u64) -> Result<(), remote::Error> {
        let slot = lock(&self.inner.slots).remove(&key);
        match slot {
            Some(s) => match s.transport.kill(&s.entry.id).await {
                Ok(()) | Err(remote::Error::NoSuchCommand { .. }) => Ok(()),
                Err(e) => Err(e),
            },
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use remote::{Command, Local};
    use std::time::Duration;

    #[tokio::test]
    async fn stop_kills_registered_commands_and_refuses_new_ones() {
        let t: Arc<dyn Transport> = Arc::new(Local::default());
        let reg = Registry::new();
        let running = t
            .spawn(&Command::new("sleep").arg("30"), None)
            .await
            .unwrap();
        let r = reg.register(&t, &running.id, "sleep").unwrap();
        assert_eq!(reg.entries().len(), 1);
        assert_eq!(reg.entries()[0].what, "sleep");
        let token = reg.token();
        let failures = reg.stop(StopReason::StepFailed("test".into())).await;
        assert!(failures.is_empty(), "{failures:?}");
        assert!(token.is_cancelled());
        let status = tokio::time::timeout(Duration::from_secs(10), running.wait())
            .await
            .unwrap()
            .unwrap();
        assert_ne!(status, 0);
        drop(r);
        assert!(reg.entries().is_empty());
        let again = t.spawn(&Command::new("true"), None).await.unwrap();
        assert_eq!(
            reg.register(&t, &again.id, "late").unwrap_err(),
            StopReason::StepFailed("test".into())
        );
        let _ = again.wait().await;
    }

    #[test]
    fn numbers_count_up_from_one() {
        let reg = Registry::new();
        assert_eq!(reg.next_number(), 1);
        assert_eq!(reg.next_number(), 2);
    }
}
