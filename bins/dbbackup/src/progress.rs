//! The live progress of a backup on a terminal: one line per server
//! (bytes on the store, rate, elapsed, its current step) and a total line
//! (the run's step), fed by the engine's [`backup::StepObserver`] calls.
//! Drawn by [`cli::progress::Board`], which draws nothing off a terminal,
//! with `--quiet` or with `--json`.

use backup::{BackupName, BackupPlan, ServerPlan, StepObserver};
use cli::progress::{Board, Display};
use std::sync::Arc;

/// The lines of one backup run.
pub struct Progress(Board);

impl Progress {
    /// Lines drawn on `display` (nothing until [`Progress::plan`]).
    pub fn new(display: Display) -> Arc<Progress> {
        Arc::new(Progress(Board::new(display)))
    }

    /// One line per server of `plan`, in its order, and the total line.
    pub fn plan(&self, plan: &BackupPlan) {
        self.0
            .set_parts(plan.servers.iter().map(|s| s.server.as_str()), true);
    }

    /// Takes the lines off the screen (before the summary or the error).
    pub fn clear(&self) {
        self.0.clear();
    }
}

impl StepObserver for Progress {
    fn starting(&self, _backup: BackupName, step: &str) {
        self.0.total_step(step);
    }

    fn server_step(&self, server: &ServerPlan, step: &str) {
        self.0.part_step(server.server.as_str(), step);
    }

    fn server_bytes(&self, server: &ServerPlan, bytes: u64) {
        self.0.part_bytes(server.server.as_str(), bytes);
    }
}
