//! Rate limits of what the agents do for refused requests: a flood of bad
//! requests must not flood the journal (each agent logs a refusal up to
//! [`REFUSALS_LOGGED_PER_SECOND`] a second and counts the rest in one line
//! when the next second begins), nor, for the rabbit-agent, the broker
//! with answers ([`PerSecond`]).

/// Refusals logged each second at most.
pub const REFUSALS_LOGGED_PER_SECOND: u64 = 10;

/// A count of events per second against a limit.
#[derive(Debug)]
pub struct PerSecond {
    limit: u64,
    start: std::time::Instant,
    /// The second (since `start`) being counted and the events in it.
    window: std::sync::Mutex<(u64, u64)>,
}

impl PerSecond {
    /// A limit of `limit` events a second.
    pub fn new(limit: u64) -> PerSecond {
        PerSecond {
            limit,
            start: std::time::Instant::now(),
            window: std::sync::Mutex::new((0, 0)),
        }
    }

    /// Counts one event: whether it is within this second's limit, and
    /// when a new second begins, how many of the last one were over it.
    pub fn take(&self) -> (bool, u64) {
        let now = self.start.elapsed().as_secs();
        let mut window = self
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut over_before = 0;
        if window.0 != now {
            over_before = window.1.saturating_sub(self.limit);
            *window = (now, 0);
        }
        window.1 += 1;
        (window.1 <= self.limit, over_before)
    }
}

/// Rate limit of the refusal log lines of one agent.
#[derive(Debug)]
pub struct RefusalLog {
    agent: &'static str,
    lines: PerSecond,
}

impl RefusalLog {
    /// A limiter for the agent named `agent` (`adm-agent`, `rabbit-agent`)
    /// in its summary lines.
    pub fn new(agent: &'static str) -> RefusalLog {
        RefusalLog {
            agent,
            lines: PerSecond::new(REFUSALS_LOGGED_PER_SECOND),
        }
    }

    /// Whether this refusal gets its own line; when a new second begins,
    /// first says how many of the last one went unlogged.
    pub fn admit(&self) -> bool {
        let (admitted, unlogged) = self.lines.take();
        if unlogged > 0 {
            tracing::warn!(
                unlogged,
                "{} refused more requests than it logs",
                self.agent
            );
        }
        admitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_lines_are_rate_limited() {
        let log = RefusalLog::new("adm-agent");
        let logged = (0..1000).filter(|_| log.admit()).count() as u64;
        // The loop may straddle one second boundary.
        assert!(
            (REFUSALS_LOGGED_PER_SECOND..=2 * REFUSALS_LOGGED_PER_SECOND).contains(&logged),
            "{logged}"
        );
    }
}
