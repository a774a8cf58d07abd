//! Wall time of each step of a run (a backup, a recovery), for the log
//! (`step done` lines) and the run's report, so a slow run says where its
//! time went.

use std::future::Future;
use std::time::{Duration, Instant};

/// The steps a run has finished, in order, with their wall times
/// (serializable, so a spider task's result carries its server's).
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timings {
    /// Whose steps (a server's name), or empty for the run's.
    of: String,
    steps: Vec<(String, Duration)>,
}

impl Timings {
    /// The steps of one server's backup or one datasource's restore.
    pub fn of(server: &str) -> Timings {
        Timings {
            of: server.to_owned(),
            steps: Vec::new(),
        }
    }

    /// Runs `step` to its end and records how long it took.
    pub async fn time<T>(&mut self, step: &str, fut: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = fut.await;
        self.record(step, started.elapsed());
        out
    }

    /// Records a step timed by the caller (one spread over several calls).
    pub fn record(&mut self, step: &str, took: Duration) {
        let secs = format!("{:.2}", took.as_secs_f64());
        if self.of.is_empty() {
            tracing::info!(step, %secs, "step done");
        } else {
            tracing::info!(server = %self.of, step, %secs, "step done");
        }
        self.steps.push((step.to_owned(), took));
    }

    /// Appends the steps of `later` (timed apart, beside another step;
    /// logged already when they were recorded).
    pub fn append(&mut self, later: Timings) {
        self.steps.extend(later.steps);
    }

    /// The steps in the order they ran, with their wall times.
    pub fn steps(&self) -> impl Iterator<Item = (&str, Duration)> {
        self.steps.iter().map(|(s, d)| (s.as_str(), *d))
    }

    /// `[{"step": ..., "secs": ...}, ...]` in the order the steps ran.
    pub fn to_json(&self) -> serde_json::Value {
        self.steps
            .iter()
            .map(|(step, d)| serde_json::json!({ "step": step, "secs": d.as_millis() as f64 / 1000.0 }))
            .collect()
    }
}

/// Runs a fallible step, returning its output with its wall time: for
/// steps that run at once, which [`Timings::time`] cannot borrow twice
/// (record each with [`Timings::record`] afterwards).
pub async fn timed<T, E>(fut: impl Future<Output = Result<T, E>>) -> Result<(T, Duration), E> {
    let started = Instant::now();
    fut.await.map(|out| (out, started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_each_step_in_order_with_its_time() {
        let mut t = Timings::default();
        let v = t.time("first", async { 7 }).await;
        t.time("second", tokio::time::sleep(Duration::from_millis(20)))
            .await;
        assert_eq!(v, 7);
        let json = t.to_json();
        let steps: Vec<&str> = json
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["step"].as_str().unwrap())
            .collect();
        assert_eq!(steps, ["first", "second"]);
        assert!(json[1]["secs"].as_f64().unwrap() >= 0.02);
    }

    #[test]
    fn appended_steps_follow_in_their_order() {
        let mut t = Timings::default();
        t.record("check", Duration::from_secs(2));
        let mut beside = Timings::default();
        beside.record("unpack", Duration::from_secs(1));
        beside.record("restore", Duration::from_secs(3));
        t.append(beside);
        let steps: Vec<(&str, u64)> = t.steps().map(|(s, d)| (s, d.as_secs())).collect();
        assert_eq!(steps, [("check", 2), ("unpack", 1), ("restore", 3)]);
    }

    #[tokio::test]
    async fn timed_passes_the_output_or_the_error_through() {
        let (v, took) = timed(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, ()>(7)
        })
        .await
        .unwrap();
        assert_eq!(v, 7);
        assert!(took >= Duration::from_millis(20));
        assert_eq!(timed(async { Err::<(), _>("no") }).await, Err("no"));
    }
}
