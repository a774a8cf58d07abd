//! The restore step on a backup taken with `--compress` (issue 21, item 8),
//! on real data: a sandbox replica backed up with `mariabackup --backup`
//! into the test's directory, every file but `xtrabackup_checkpoints`
//! turned into a qpress archive `F.qp` by the test's encoder (as
//! `mariabackup --compress` leaves them after extraction), then the
//! restore's own commands run on it: `recovery::decompress_qp` (with no
//! `qpress` on `PATH`, so `dbqpress` stands in) and `xtrabackup::prepare`.
//! Every file must come back byte for byte and the prepare succeed. And
//! the same steps on a backup taken with `mariabackup --compress` (its own
//! QuickLZ encoder): decompressed, then prepared.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use remote::{Command, Local, Transport};
use testkit::Sandbox;
use xtrabackup::{PrepareStep, Tool};

const STEP: Duration = Duration::from_secs(300);

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

async fn sh(job: &Local, cmd: &Command, what: &str) -> String {
    let out = job.exec(cmd, STEP).await.unwrap();
    assert!(
        out.success(),
        "{what}: exit {}\n{}\n{}",
        out.exit_status,
        out.stdout_str(),
        out.stderr_str()
    );
    out.stdout_str()
}

/// `mariabackup --backup [extra]` of a sandbox replica into `target`.
async fn backup(sb: &Sandbox, job: &Local, tool: &Tool, target: &Path, extra: &[&str]) {
    let replica = sb
        .prod_servers()
        .into_iter()
        .find(|s| s.initial_role == "replica")
        .unwrap();
    let login = sb.mysql(&replica);
    let defaults = target.with_extension("cnf");
    std::fs::write(
        &defaults,
        format!(
            "[client]\nuser={}\npassword={}\nhost={}\nport={}\n",
            login.user, login.password, login.host, login.port
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &defaults,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let mut cmd = Command::new(tool.program.as_str())
        .arg(format!("--defaults-file={}", defaults.display()))
        .arg("--backup")
        .arg(format!("--target-dir={}", target.display()));
    for a in extra {
        cmd = cmd.arg(*a);
    }
    sh(job, &cmd, "mariabackup --backup of a sandbox replica").await;
    std::fs::remove_file(&defaults).unwrap();
}

/// The restore's decompress step for `data`, on a `PATH` with `dbqpress`
/// and no `qpress`; returns its output.
async fn decompress(job: &Local, tool: &Tool, data: &Path, shim: &Path) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_dbqpress")).parent().unwrap();
    let step = recovery::decompress_qp(tool, data.to_str().unwrap(), shim.to_str().unwrap());
    let with_path = Command::shell(format!(
        "command -v qpress >/dev/null && {{ echo 'qpress is installed: this test wants it absent' >&2; exit 1; }}; \
         PATH={}:$PATH; export PATH; {}",
        remote::quote(bin.to_str().unwrap()),
        step.argv_shell()
    ));
    sh(job, &with_path, "decompressing the .qp files").await
}

/// The restore's prepare of `data` completes.
async fn prepared(job: &Local, tool: &Tool, data: &Path) {
    let prepare = xtrabackup::prepare(
        tool,
        data.to_str().unwrap(),
        &PrepareStep::Full {
            incrementals_follow: false,
        },
        Some("256M"),
    );
    let out = job.exec(&prepare, STEP).await.unwrap();
    let log = format!("{}{}", out.stdout_str(), out.stderr_str());
    assert!(
        out.success() && log.contains("completed OK!"),
        "prepare:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_backup_is_decompressed_by_dbqpress_and_prepared() {
    let Some(sb) = Sandbox::get() else { return };
    // A backup of a shared replica: not beside another test's backups or
    // DDL (mariabackup 10.11 --compress crashed, exit 139, while CI's other
    // binaries created and dropped tables under it).
    let _serial = testkit::serial().await;
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let data = tmp.path().join("datadir");
    let job = Local::new("job", 4);
    let tool = xtrabackup::ops::detect_tool(&job, "mariabackup")
        .await
        .unwrap();
    backup(&sb, &job, &tool, &raw, &[]).await;

    // The extracted --compress backup: F.qp for every F but the checkpoints.
    let originals = files(&raw);
    let mut compressed = 0;
    for f in &originals {
        let rel = f.strip_prefix(&raw).unwrap();
        let to = data.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        let bytes = std::fs::read(f).unwrap();
        if rel == Path::new("xtrabackup_checkpoints") {
            std::fs::write(&to, &bytes).unwrap();
        } else {
            let name = rel.file_name().unwrap().to_str().unwrap();
            let qp = qpress::encode::archive(name, &bytes, 65536);
            std::fs::write(to.with_file_name(format!("{name}.qp")), qp).unwrap();
            compressed += 1;
        }
    }
    assert!(compressed > 10, "only {compressed} files to compress");

    let shim = tmp.path().join("qpress-bin");
    let out = decompress(&job, &tool, &data, &shim).await;
    assert_eq!(
        recovery::decompressed_with(&out),
        Some(recovery::DBQPRESS),
        "{out}"
    );
    assert!(!shim.exists());

    let restored = files(&data);
    assert_eq!(restored.len(), originals.len(), "{restored:?}");
    for f in &originals {
        let rel = f.strip_prefix(&raw).unwrap();
        assert!(
            std::fs::read(f).unwrap() == std::fs::read(data.join(rel)).unwrap(),
            "{} differs after decompression",
            rel.display()
        );
    }

    // A second run finds nothing to do.
    let out = decompress(&job, &tool, &data, &shim).await;
    assert_eq!(recovery::decompressed_with(&out), None, "{out}");
    prepared(&job, &tool, &data).await;
}

/// The same on what mariabackup's own QuickLZ encoder wrote: a backup
/// taken with `--compress`, decompressed by the restore's step with
/// `dbqpress` standing in for `qpress`, then prepared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mariabackup_compress_backup_is_decompressed_by_dbqpress_and_prepared() {
    let Some(sb) = Sandbox::get() else { return };
    // A backup of a shared replica: not beside another test's backups or
    // DDL (mariabackup 10.11 --compress crashed, exit 139, while CI's other
    // binaries created and dropped tables under it).
    let _serial = testkit::serial().await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("datadir");
    let job = Local::new("job", 4);
    let tool = xtrabackup::ops::detect_tool(&job, "mariabackup")
        .await
        .unwrap();
    backup(&sb, &job, &tool, &data, &["--compress"]).await;
    let qp = files(&data)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "qp"))
        .count();
    assert!(qp > 10, "only {qp} .qp files");
    let out = decompress(&job, &tool, &data, &tmp.path().join("qpress-bin")).await;
    assert_eq!(
        recovery::decompressed_with(&out),
        Some(recovery::DBQPRESS),
        "{out}"
    );
    assert!(
        files(&data)
            .iter()
            .all(|f| f.extension().is_none_or(|e| e != "qp"))
    );
    assert!(data.join("ibdata1").exists() && data.join("xtrabackup_info").exists());
    prepared(&job, &tool, &data).await;
}
