//! [`Recorder`]: a run's catalog record, written beside the run and never
//! in its way. The row's first write starts in the background as the run
//! starts; the first failure (catalog down, login refused, a statement
//! failing) is logged once, and later writes are not tried: the run gets
//! one warning for its summary and ends as it would have without a catalog.

use super::db::PhysicalCatalog;
use super::row::{Planned, RunEnd, RunStart};
use crate::history::{CatalogLogin, HistoryError};
use chrono::NaiveDateTime;
use tokio::task::JoinHandle;

/// How the warning a run gets begins.
pub const WARNING_PREFIX: &str = "catalog record not written";

type Opening = JoinHandle<Result<(PhysicalCatalog, u64), HistoryError>>;

enum State {
    /// No `[catalog]`: nothing to do.
    Off,
    /// The connect and the insert, running beside the run.
    Opening(Opening),
    /// The row exists.
    Open(PhysicalCatalog, u64),
    /// A write failed: the warning is given, nothing more is tried.
    Gave,
}

/// One run's record in `physical_run`; see the module doc.
pub struct Recorder {
    state: State,
    started_at: NaiveDateTime,
    /// A plan given while the first write was still on its way.
    plan: Option<Planned>,
    warning: Option<String>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Off => "off",
            State::Opening(_) => "opening",
            State::Open(..) => "open",
            State::Gave => "gave up",
        };
        f.debug_struct("Recorder")
            .field("state", &state)
            .field("warning", &self.warning)
            .finish()
    }
}

impl Recorder {
    /// A recorder that records nothing (no `[catalog]` configured).
    pub fn off() -> Recorder {
        Recorder {
            state: State::Off,
            started_at: chrono::Utc::now().naive_utc(),
            plan: None,
            warning: None,
        }
    }

    /// [`Recorder::start`] with the login of `[catalog]` when one is
    /// given, [`Recorder::off`] otherwise (`start` is not called then).
    pub fn start_if(
        catalog: Option<&conf::CatalogConfig>,
        start: impl FnOnce() -> RunStart,
    ) -> Recorder {
        match catalog {
            Some(c) => Recorder::start(CatalogLogin::from(c), start()),
            None => Recorder::off(),
        }
    }

    /// Starts connecting and inserting the `running` row in the background
    /// (needs a tokio runtime).
    pub fn start(login: CatalogLogin, start: RunStart) -> Recorder {
        let started_at = start.started_at;
        let opening = tokio::spawn(async move {
            let db = PhysicalCatalog::open(&login).await?;
            let id = db.start(&start).await?;
            Ok((db, id))
        });
        Recorder {
            state: State::Opening(opening),
            started_at,
            plan: None,
            warning: None,
        }
    }

    /// The row's id once it is written (waits for the first write).
    pub async fn id(&mut self) -> Option<u64> {
        self.opened().await.map(|(_, id)| id)
    }

    async fn opened(&mut self) -> Option<(&mut PhysicalCatalog, u64)> {
        if let State::Opening(opening) = &mut self.state {
            let result = match opening.await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(e) => Err(format!("the catalog task ended: {e}")),
            };
            match result {
                Ok((db, id)) => self.state = State::Open(db, id),
                Err(cause) => self.give_up(cause),
            }
        }
        match &mut self.state {
            State::Open(db, id) => Some((db, *id)),
            _ => None,
        }
    }

    fn give_up(&mut self, cause: String) {
        let warning = format!("{WARNING_PREFIX}: {cause}");
        tracing::warn!("{warning}");
        self.warning = Some(warning);
        self.state = State::Gave;
    }

    fn check(&mut self, r: Result<(), HistoryError>) {
        if let Err(e) = r {
            self.give_up(e.to_string());
        }
    }

    /// Records the plan (run type, backup name, servers). While the
    /// first write is still on its way (a slow catalog), the plan is kept
    /// and written with the end: the run never waits for the catalog here.
    pub async fn planned(&mut self, p: &Planned) {
        if let State::Opening(opening) = &self.state
            && !opening.is_finished()
        {
            self.plan = Some(p.clone());
            return;
        }
        let Some((db, id)) = self.opened().await else {
            return;
        };
        let r = db.planned(id, p).await;
        self.check(r);
    }

    /// Records the end; returns the warning the run must show, if any
    /// write failed.
    pub async fn finish(mut self, e: &RunEnd) -> Option<String> {
        let started_at = self.started_at;
        if let Some(plan) = self.plan.take()
            && let Some((db, id)) = self.opened().await
        {
            let r = db.planned(id, &plan).await;
            self.check(r);
        }
        if let Some((db, id)) = self.opened().await {
            let r = db.finish(id, started_at, e).await;
            self.check(r);
        }
        if let State::Open(db, _) = std::mem::replace(&mut self.state, State::Gave) {
            db.close().await;
        }
        self.warning
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physical::RunType;

    #[tokio::test]
    async fn a_catalog_that_is_down_gives_one_warning_and_no_password() {
        // Nothing listens on port 1 of this loopback address.
        let login = CatalogLogin::new("127.0.0.1", 1, "u", "Pw-Secret-9", "dbscale_backup");
        let start = RunStart::now("dbbackup", "0", "c:1", "s:/d", "ctl", 1);
        let mut rec = Recorder::start(login, start);
        rec.planned(&Planned {
            run_type: RunType::Full,
            backup_name: "x".into(),
            target: None,
            servers: vec![],
        })
        .await;
        assert_eq!(rec.id().await, None);
        let warning = rec
            .finish(&RunEnd::failed("boom"))
            .await
            .expect("a warning");
        assert!(
            warning.starts_with(
                "catalog record not written: cannot connect to the catalog 127.0.0.1:1: \
                 error communicating with database: Connection refused"
            ),
            "{warning}"
        );
        assert!(!warning.contains("Pw-Secret-9"), "{warning}");
    }

    #[tokio::test]
    async fn no_catalog_no_warning() {
        let rec = Recorder::off();
        assert_eq!(rec.finish(&RunEnd::success(1, None)).await, None);
    }
}
