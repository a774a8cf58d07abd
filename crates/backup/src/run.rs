//! The state one run shares between its steps: configuration, transports,
//! the store, the streamer (ports, registry of remote commands) and the
//! plan. An explicit value passed down, no globals.

use crate::facts::Facts;
use crate::plan::BackupPlan;
use remote::{Connector, Transport};
use std::sync::Arc;
use store::Store;
use stream::{LogProgress, Sink, Source, Streamer, TransferReport};

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
        self.streamer
            .transfer(
                from,
                source,
                self.store.transport(),
                &Sink::file(path),
                &LogProgress,
            )
            .await
    }
}
