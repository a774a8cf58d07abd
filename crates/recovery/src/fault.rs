//! Fault points for the tests that break a recovery at each phase. Debug
//! builds only: a release binary has no such point.
//!
//! - `DBRECOVER_KILL_AT=<point>` aborts the process (no cleanup, as
//!   SIGKILL) when the run reaches that point.
//! - `DBRECOVER_PAUSE_AT=<point>` with `DBRECOVER_PAUSE_FILE=<path>` writes
//!   the point's name into that file when the run reaches the point, and
//!   waits until the test removes it (at most [`PAUSE_LIMIT`]): the test
//!   makes its fault (fills a disk, kills a process) at that exact point,
//!   whatever the speed of the steps before it.

/// The points, in the order a run reaches them.
pub const POINTS: &[&str] = &[
    "shipping the chain",
    "checking the chain's files",
    "restoring the datasources",
    "temporary server started",
];

/// How long a paused run waits for the test at most.
pub const PAUSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Aborts or pauses here when `DBRECOVER_KILL_AT` / `DBRECOVER_PAUSE_AT`
/// names `point`.
pub(crate) fn point(point: &str) {
    debug_assert!(POINTS.contains(&point), "{point} is not in POINTS");
    #[cfg(debug_assertions)]
    {
        if std::env::var("DBRECOVER_KILL_AT").is_ok_and(|at| at == point) {
            std::process::abort();
        }
        if std::env::var("DBRECOVER_PAUSE_AT").is_ok_and(|at| at == point)
            && let Some(file) = std::env::var_os("DBRECOVER_PAUSE_FILE")
        {
            pause(point, std::path::Path::new(&file));
        }
    }
}

/// Announces `point` in `file` and blocks until the file is gone. Blocking
/// on purpose: the whole run stands still, as at a breakpoint.
#[cfg(debug_assertions)]
fn pause(point: &str, file: &std::path::Path) {
    if std::fs::write(file, point).is_err() {
        return;
    }
    let deadline = std::time::Instant::now() + PAUSE_LIMIT;
    while file.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
