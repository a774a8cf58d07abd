//! The last steps before `ok`: `manifest.json` (every file of the backup
//! with its size and SHA-256, the encrypted tarball too, the plan and the
//! timings) and the completeness check (every file the run wrote is on the
//! store with the size it was written with), so `ok` never marks a backup
//! that lost a file.

use crate::error::BackupError;
use crate::run::Run;
use crate::server::{STREAM_FILE, ServerResult};
use remote::Command;
use std::collections::BTreeMap;
use store::check::{listing_script, parse_listing};
use store::manifest::{Manifest, ServerSummary, Summary};
use stream::Timings;

/// Writes `manifest.json` for the run that started at `started`, with its
/// timings `t` and, encrypted, the files its tarball holds.
pub async fn write_manifest(
    run: &Run,
    results: &[ServerResult],
    tarball_files: BTreeMap<String, u64>,
    t: Timings,
    started: std::time::Instant,
) -> Result<Manifest, BackupError> {
    let mut summary = summary(run, results);
    summary.elapsed_secs = Some(started.elapsed().as_secs_f64());
    write(run, summary, results, tarball_files, t).await
}

/// The run's summary for the manifest (its timings are added when it is
/// written).
fn summary(run: &Run, results: &[ServerResult]) -> Summary {
    Summary {
        kind: if run.plan.is_incremental() {
            "inc"
        } else {
            "full"
        }
        .to_owned(),
        last_good: run.plan.last.map(|l| l.to_string()),
        servers: results
            .iter()
            .map(|r| ServerSummary {
                server: r.plan.server.to_string(),
                datasource: r.plan.datasource.to_string(),
                address: r.plan.address(),
                role: r.plan.role.to_string(),
                lsn: r.lsn,
                incremental_from: r.plan.incremental_from,
                binlog: format!("{}:{}", r.binlog_file, r.binlog_pos),
                executed_gtids: r.executed_gtids.clone(),
                stream_bytes: r.bytes,
                stream_sha256: r.sha256.clone(),
                timings: r.timings.to_json(),
            })
            .collect(),
        compress: run.plan.compress_threads.map(|n| format!("zstd -T{n}")),
        encrypted: run.plan.encrypt,
        timings: serde_json::Value::Null,
        elapsed_secs: None,
    }
}

/// The encrypted tarball's path relative to the backup directory.
fn tarball_from_backup_dir(run: &Run) -> String {
    format!(
        "../{}",
        store::layout::encrypted_tarball(&run.plan.name.to_string())
    )
}

/// Writes `manifest.json`. A server's stream was hashed on the store while
/// it arrived; the other files (and an encrypted tarball) are read here.
async fn write(
    run: &Run,
    mut summary: Summary,
    results: &[ServerResult],
    tarball_files: BTreeMap<String, u64>,
    mut timings: Timings,
) -> Result<Manifest, BackupError> {
    let name = run.plan.name.to_string();
    let dir = run.store_path(&name);
    let streamed: BTreeMap<String, (u64, String)> = results
        .iter()
        .filter_map(|r| {
            let sha = r.sha256.clone()?;
            Some((format!("{}/{STREAM_FILE}", r.plan.dir), (r.bytes, sha)))
        })
        .collect();
    let tarball = run.plan.encrypt.then(|| tarball_from_backup_dir(run));
    let script = listing_script(
        &dir,
        streamed.keys().map(String::as_str),
        tarball.as_deref(),
        stream::PICK_SHA256,
    );
    let out = timings
        .time(
            "manifest checksums",
            run.store.run(
                "checksumming the backup",
                Command::new("bash").arg("-c").arg(script),
            ),
        )
        .await?;
    let mut files = parse_listing(&out.stdout_str());
    for (path, (bytes, sha)) in &streamed {
        match files.get_mut(path) {
            Some(entry) if entry.size != *bytes => {
                return Err(incomplete(
                    run,
                    format!(
                        "{dir}/{path} holds {} bytes but {bytes} were streamed into it",
                        entry.size
                    ),
                ));
            }
            Some(entry) => entry.sha256 = Some(sha.clone()),
            // With -p the stream is inside the tarball.
            None if run.plan.encrypt => match tarball_files.get(path) {
                Some(size) if size == bytes => {}
                found => {
                    let found = found.map_or("no such file".to_owned(), |s| format!("{s} bytes"));
                    return Err(incomplete(
                        run,
                        format!(
                            "the encrypted tarball's {path} holds {found}, but {bytes} were streamed into it"
                        ),
                    ));
                }
            },
            None => {
                return Err(incomplete(
                    run,
                    format!("{dir}/{path} is gone ({bytes} bytes were streamed into it)"),
                ));
            }
        }
    }
    summary.timings = timings.to_json();
    let mut manifest = Manifest::new(&name, summary);
    if let Some(t) = &tarball {
        manifest.tarball = files.remove(t);
        if manifest.tarball.is_none() {
            return Err(incomplete(run, format!("{dir}/{t} is missing")));
        }
    }
    manifest.files = files;
    manifest.tarball_files = tarball_files;
    run.store
        .write_file(
            &format!("{name}/{}", store::layout::MANIFEST_FILE),
            manifest.to_json(),
        )
        .await?;
    Ok(manifest)
}

/// Checks on the store, in one round trip, that every file the manifest
/// lists (and every server's stream, and the encrypted tarball) is there
/// with its size: nothing moved, truncated or lost since it was written.
pub async fn check_complete(
    run: &Run,
    manifest: &Manifest,
    results: &[ServerResult],
) -> Result<(), BackupError> {
    let name = run.plan.name.to_string();
    let mut expected: BTreeMap<String, u64> = manifest
        .files
        .iter()
        .map(|(path, f)| (format!("{name}/{path}"), f.size))
        .collect();
    if !run.plan.encrypt {
        for r in results {
            expected.insert(format!("{name}/{}/{STREAM_FILE}", r.plan.dir), r.bytes);
        }
    }
    if let Some(t) = &manifest.tarball {
        expected.insert(store::layout::encrypted_tarball(&name), t.size);
    }
    run.store.check_sizes(&expected).await?;
    Ok(())
}

fn incomplete(run: &Run, detail: String) -> BackupError {
    BackupError::host(run.store.host(), "checking the backup before ok", detail)
}
