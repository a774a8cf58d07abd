//! Progress of transfers, reported to a sink the caller supplies (the
//! binaries draw bars; libraries and tests collect or ignore it).
//!
//! The receiving host reports the bytes it has so far about once a second
//! (a file's size; for a consumer pipeline, what socat wrote), and once more
//! when the transfer ends with the exact count.

use std::time::Duration;

/// One progress report.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// Which transfer (its label, e.g. `file /etc/my.cnf -> 127.0.0.50:29998`).
    pub label: String,
    /// Bytes received so far.
    pub bytes: u64,
    /// Bytes expected, when known (a file's size).
    pub total: Option<u64>,
    /// Time since the data started to flow.
    pub elapsed: Duration,
    /// The transfer has ended (successfully or not).
    pub done: bool,
}

impl Update {
    /// Average rate so far, bytes per second.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.bytes as f64 / secs
        } else {
            0.0
        }
    }
}

/// Receives progress reports; called from the transfer's task, so keep it
/// quick (draw, log, or send to a channel).
pub trait Progress: Send + Sync {
    /// A new report.
    fn update(&self, update: &Update);
}

/// Ignores every report.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _: &Update) {}
}

/// Writes a `tracing` info line per report.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogProgress;

impl Progress for LogProgress {
    fn update(&self, u: &Update) {
        tracing::info!(
            transfer = %u.label,
            bytes = u.bytes,
            total = u.total,
            mb_per_s = format!("{:.1}", u.rate() / 1e6),
            done = u.done,
            "transfer progress"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_bytes_over_elapsed() {
        let u = Update {
            label: "x".into(),
            bytes: 3_000_000,
            total: None,
            elapsed: Duration::from_secs(2),
            done: false,
        };
        assert!((u.rate() - 1_500_000.0).abs() < 1e-6);
        assert_eq!(
            Update {
                elapsed: Duration::ZERO,
                ..u
            }
            .rate(),
            0.0
        );
    }
}
