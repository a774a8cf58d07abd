//! The state one run shares between its steps: configuration, transports,
//! the store, the streamer (ports, registry of remote commands) and the
//! plan. An explicit value passed down, no globals.

use crate::engine::StepObserver;
use crate::facts::Facts;
use crate::plan::{BackupPlan, ServerPlan};
use remote::{Connector, Transport};
use std::sync::Arc;
use store::Store;
use stream::{LogProgress, Progress, Sink, Source, Streamer, TransferReport, Update};

/// One run's shared state.
pub struct Run {
    /// The configuration.
    pub cfg: conf::BackupConfig,
    /// Transports to every host.
    pub hosts: Connector,
    /// The store.
    pub store: Store,
    /// Transfers (socat ports, the registry the watchdog kills through).
    pub streamer: Streamer,
    /// What the router and store said.
    pub facts: Facts,
    /// The plan being carried out.
    pub plan: BackupPlan,
    /// Told of each server's steps and bytes (progress display).
    pub observer: Option<Arc<dyn StepObserver>>,
}

impl Run {
    /// `store-dir/rel`.
    pub fn store_path(&self, rel: &str) -> String {
        self.store.path(rel)
    }

    /// Sends `source` from `from` into the file `path` on the store.
    pub async fn transfer(
        &self,
        from: &Arc<dyn Transport>,
        source: &Source,
        path: &str,
    ) -> Result<TransferReport, stream::Error> {
        self.transfer_reporting(from, source, path, &LogProgress)
            .await
    }

    /// [`Run::transfer`], its progress reported to `progress`.
    pub async fn transfer_reporting(
        &self,
        from: &Arc<dyn Transport>,
        source: &Source,
        path: &str,
        progress: &dyn Progress,
    ) -> Result<TransferReport, stream::Error> {
        self.streamer
            .transfer(
                from,
                source,
                self.store.transport(),
                &Sink::file(path),
                progress,
            )
            .await
    }

    /// Tells the observer that `server`'s step `step` starts.
    pub fn server_step(&self, server: &ServerPlan, step: &str) {
        tracing::debug!(server = %server.server, step, "server step starts");
        if let Some(o) = &self.observer {
            o.server_step(server, step);
        }
    }
}

/// A server stream's progress: logged, and its bytes told to the run's
/// observer.
pub struct ServerProgress<'a> {
    /// The run.
    pub run: &'a Run,
    /// Whose stream.
    pub server: &'a ServerPlan,
}

impl Progress for ServerProgress<'_> {
    fn update(&self, update: &Update) {
        LogProgress.update(update);
        if let Some(o) = &self.run.observer {
            o.server_bytes(self.server, update.bytes);
        }
    }
}
