//! Crash points for the tests that kill a recovery at each phase:
//! `DBRECOVER_KILL_AT=<point>` aborts the process (no cleanup, as SIGKILL)
//! when the run reaches that point. Debug builds only: a release binary has
//! no such point.

/// The points, in the order a run reaches them.
pub const POINTS: &[&str] = &[
    "shipping the chain",
    "checking the chain's files",
    "restoring the datasources",
    "temporary server started",
];

/// Aborts here when `DBRECOVER_KILL_AT` names `point`.
pub(crate) fn point(point: &str) {
    debug_assert!(POINTS.contains(&point), "{point} is not in POINTS");
    #[cfg(debug_assertions)]
    if std::env::var("DBRECOVER_KILL_AT").is_ok_and(|at| at == point) {
        std::process::abort();
    }
}
