//! Watching a recovery as it runs (a progress display, a test that acts
//! at a step): the run's steps, the bytes shipped to the job server, and
//! each datasource's steps.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Told of a recovery's progress; calls come from the run's tasks, so
/// keep them quick (draw, or send to a channel).
pub trait Observer: Send + Sync {
    /// The run's step `step` starts: `pre-checks`, `shipping the chain`,
    /// `restoring the datasources` (the chain's files are checked beside
    /// it, before any datasource prepares).
    fn starting(&self, _step: &str) {}

    /// The chain's bytes on the job server so far while it is shipped:
    /// the receiving end's own count, about once a second, and exact at
    /// the end of each backup's transfer (no extra read of the data).
    fn shipped(&self, _bytes: u64) {}

    /// `datasource`'s step `step` starts: `extracting <backup>`,
    /// `preparing <backup>`, `starting the temporary server`, `replaying
    /// binlogs`, `counting rows`, `stopping the temporary server`, then
    /// `done`.
    fn datasource_step(&self, _datasource: &str, _step: &str) {}
}

/// The run's observer, if any.
#[derive(Clone, Default)]
pub(crate) struct Watch(pub Option<Arc<dyn Observer>>);

impl Watch {
    pub fn starting(&self, step: &str) {
        if let Some(o) = &self.0 {
            o.starting(step);
        }
    }

    pub fn datasource_step(&self, datasource: &str, step: &str) {
        if let Some(o) = &self.0 {
            o.datasource_step(datasource, step);
        }
    }
}

/// One backup's transfer to the job server, its bytes added to those of
/// the backups shipped before it.
pub(crate) struct Shipping<'a> {
    pub watch: &'a Watch,
    /// Bytes of the backups already shipped.
    pub before: u64,
    /// Bytes of this one so far.
    pub now: AtomicU64,
}

impl stream::Progress for Shipping<'_> {
    fn update(&self, update: &stream::Update) {
        stream::LogProgress.update(update);
        self.now.store(update.bytes, Ordering::Relaxed);
        if let Some(o) = &self.watch.0 {
            o.shipped(self.before + update.bytes);
        }
    }
}
