//! The last steps before `ok`: `manifest.json` (every file of the backup
//! with its size and SHA-256, the encrypted tarball too, the plan and the
//! timings) and the completeness check (every file the run wrote is on the
//! store with the size it was written with), so `ok` never marks a backup
//! that lost a file.

use crate::error::BackupError;
use crate::run::Run;
use crate::server::{STREAM_FILE, ServerResult};
use remote::{Command, quote};
use std::collections::BTreeMap;
use store::manifest::{FileEntry, Manifest, ServerSummary, Summary};
use stream::Timings;

/// The run's summary for the manifest (its timings are added when it is
/// written).
pub fn summary(run: &Run, results: &[ServerResult]) -> Summary {
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
pub async fn write(
    run: &Run,
    mut summary: Summary,
    results: &[ServerResult],
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
            None if run.plan.encrypt => {}
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

/// Lists `size<TAB>path` of every file under `dir` (but `ok` and the
/// manifest) and of `extra` (a path relative to `dir`), then `---`, then
/// the SHA-256 of each but the `hashed` ones (with
/// [`stream::PICK_SHA256`]'s command).
pub(crate) fn listing_script<'a>(
    dir: &str,
    hashed: impl Iterator<Item = &'a str>,
    extra: Option<&str>,
) -> String {
    let skip: String = hashed
        .map(|p| format!(" ! -path {}", quote(&format!("./{p}"))))
        .collect();
    let (extra_size, extra_hash) = match extra {
        Some(p) => (
            format!(
                "[ -f {p} ] && printf '%s\\t%s\\n' \"$(stat -c %s -- {p})\" {p}\n",
                p = quote(p)
            ),
            format!("[ -f {p} ] && printf '%s\\0' {p}; ", p = quote(p)),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        "set -o pipefail\n\
         cd {dir} || exit 1\n\
         find . -type f ! -name ok ! -name manifest.json -printf '%s\\t%p\\n' | sort -k2 || exit 1\n\
         {extra_size}\
         echo ---\n\
         {pick}\n\
         {{ {extra_hash}find . -type f ! -name ok ! -name manifest.json{skip} -print0 | sort -z; }} | xargs -0 -r $sha256",
        dir = quote(dir),
        pick = stream::PICK_SHA256,
    )
}

/// Parses [`listing_script`]'s output into `path -> entry`. Both hash
/// formats: `sha256sum`'s `HASH  ./path` and `openssl -r`'s `HASH *./path`.
pub(crate) fn parse_listing(text: &str) -> BTreeMap<String, FileEntry> {
    let (sizes, sums) = text.split_once("---\n").unwrap_or((text, ""));
    let mut files = BTreeMap::new();
    for line in sizes.lines() {
        if let Some((size, path)) = line.split_once('\t') {
            files.insert(
                path.strip_prefix("./").unwrap_or(path).to_owned(),
                FileEntry {
                    size: size.parse().unwrap_or(0),
                    sha256: None,
                },
            );
        }
    }
    for line in sums.lines() {
        let Some((sum, rest)) = line.split_once(' ') else {
            continue;
        };
        let path = rest.strip_prefix(['*', ' ']).unwrap_or(rest);
        if let Some(entry) = files.get_mut(path.strip_prefix("./").unwrap_or(path)) {
            entry.sha256 = Some(sum.to_owned());
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_takes_sizes_and_both_hash_formats() {
        let text = "12\t./a/my.conf\n300\t./a/backup.xbsteam\n5\t./executed gtids\n\
                    77\t../encrypted/x.tar.encrypted\n---\n\
                    aaaa *./a/my.conf\nbbbb  ./executed gtids\ncccc  ../encrypted/x.tar.encrypted\n";
        let files = parse_listing(text);
        assert_eq!(files["a/my.conf"].size, 12);
        assert_eq!(files["a/my.conf"].sha256.as_deref(), Some("aaaa"));
        assert_eq!(files["executed gtids"].sha256.as_deref(), Some("bbbb"));
        assert_eq!(files["a/backup.xbsteam"].size, 300);
        assert_eq!(files["a/backup.xbsteam"].sha256, None);
        let t = &files["../encrypted/x.tar.encrypted"];
        assert_eq!((t.size, t.sha256.as_deref()), (77, Some("cccc")));
    }

    #[test]
    fn streamed_files_are_not_hashed_again() {
        let script = listing_script("/store/x y", ["ds-s/backup.xbsteam"].into_iter(), None);
        assert!(script.contains("cd '/store/x y'"), "{script}");
        assert!(
            script.contains("! -path ./ds-s/backup.xbsteam -print0"),
            "{script}"
        );
    }

    #[test]
    fn the_tarball_is_listed_and_hashed() {
        let script = listing_script(
            "/s/b",
            std::iter::empty(),
            Some("../encrypted/b.tar.encrypted"),
        );
        assert!(
            script.contains("stat -c %s -- ../encrypted/b.tar.encrypted"),
            "{script}"
        );
        assert!(
            script.contains("printf '%s\\0' ../encrypted/b.tar.encrypted"),
            "{script}"
        );
    }
}
