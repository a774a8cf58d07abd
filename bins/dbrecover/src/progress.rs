//! The live progress of a recovery on a terminal: one line per datasource
//! (elapsed, its current step: extraction and replay run on the job
//! server, which counts no bytes for them) and a total line (the bytes
//! shipped to the job server, their rate, the run's step), fed by the
//! engine's [`recovery::Observer`] calls. Drawn by
//! [`cli::progress::Board`], which draws nothing off a terminal, with
//! `--quiet` or with `--json`.

use cli::progress::{Board, Display};
use std::sync::Arc;

/// The lines of one recovery.
pub struct Progress(Board);

impl Progress {
    /// Lines drawn on `display` (nothing until [`Progress::plan`]).
    pub fn new(display: Display) -> Arc<Progress> {
        Arc::new(Progress(Board::new(display)))
    }

    /// One line per datasource of `plan`, and the total line.
    pub fn plan(&self, plan: &recovery::RecoveryPlan) {
        let names = plan.apply.datasources.iter().map(|d| d.datasource.as_str());
        self.0.set_parts(names, false);
    }

    /// Takes the lines off the screen (before the summary or the error).
    pub fn clear(&self) {
        self.0.clear();
    }
}

impl recovery::Observer for Progress {
    fn starting(&self, step: &str) {
        self.0.total_step(step);
    }

    fn shipped(&self, bytes: u64) {
        self.0.total_bytes(bytes);
    }

    fn datasource_step(&self, datasource: &str, step: &str) {
        self.0.part_step(datasource, step);
    }
}
