//! Issue 20, target 5: an incremental after a 1 % change streams at most 5 %
//! of the full's bytes (with `flush-before-backup = 1` the checkpoint is
//! made to catch up before each backup, docs/incrementals.md), and both
//! verify good.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Store, take};
use std::time::Duration;

const DB: &str = "incr_size_i20";
const ROWS: u64 = 400_000;
/// The option that makes the checkpoint catch up (off by default).
const FLUSH: [(&str, &str); 1] = [("flush-before-backup", "1")];

async fn client(sb: &testkit::Sandbox, server: &str) -> router::Client {
    let e = sb.mysql(&sb.server(server));
    let ep = router::Endpoint::new(e.host, e.port, e.user, e.password);
    router::Client::connect(&ep, Duration::from_secs(10))
        .await
        .unwrap()
}

async fn sql_on(sb: &testkit::Sandbox, server: &str, statement: &str) {
    let mut c = client(sb, server).await;
    c.execute(statement).await.unwrap();
    c.close().await.unwrap();
}

/// Waits until every server of `normal_0` holds `ROWS` rows and the
/// change (the backup may take any of them).
async fn replicated(sb: &testkit::Sandbox, changed: bool) {
    let want = if changed { "1" } else { "0" };
    for s in sb.prod_servers() {
        if s.datasource != "normal_0" {
            continue;
        }
        let mut c = client(sb, &s.name).await;
        let q = format!("SELECT COUNT(*) AS n, SUM(pad LIKE 'x%') > 0 AS changed FROM {DB}.t");
        let mut ok = false;
        for _ in 0..240 {
            if let Ok(rows) = c.query(&q).await {
                let r = rows.first().unwrap();
                let n = r.column("n").flatten().unwrap_or_default().to_owned();
                let ch = r.column("changed").flatten().unwrap_or("0").to_owned();
                if n == ROWS.to_string() && ch == want {
                    ok = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert!(ok, "{} did not catch up", s.name);
        c.close().await.unwrap();
    }
}

fn bytes_of(done: &backup::Outcome, datasource: &str) -> u64 {
    done.servers
        .iter()
        .filter(|s| s.plan.datasource.as_str() == datasource)
        .map(|s| s.bytes)
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_percent_change_streams_at_most_five_percent_of_the_full() {
    let Some(sb) = testkit::Sandbox::get() else {
        return;
    };
    let _serial = sb.exclusive().await;
    let master = sb
        .prod_servers()
        .into_iter()
        .find(|s| s.datasource == "normal_0" && s.initial_role == "master")
        .unwrap()
        .name;
    sql_on(&sb, &master, &format!("DROP DATABASE IF EXISTS {DB}")).await;
    sql_on(&sb, &master, &format!("CREATE DATABASE {DB}")).await;
    sql_on(
        &sb,
        &master,
        &format!("CREATE TABLE {DB}.t (id INT PRIMARY KEY, pad VARCHAR(200)) ENGINE=InnoDB"),
    )
    .await;
    // Distinct md5s: not much for the stream's compression to fold.
    sql_on(
        &sb,
        &master,
        &format!(
            "INSERT INTO {DB}.t SELECT seq, CONCAT(MD5(seq), MD5(seq + 1), MD5(seq + 2), MD5(seq + 3), MD5(seq + 4), MD5(seq + 5)) FROM {DB}.seq_1_to_{ROWS}"
        ),
    )
    .await;
    replicated(&sb, false).await;

    let store = Store::new(&sb, "incrsize");
    let full = take(store.conf(&FLUSH)).await;
    assert!(!full.plan.is_incremental());

    // 1 % of the rows, contiguous by primary key (a uniform 1 % touches
    // about half the pages: docs/incrementals.md).
    sql_on(
        &sb,
        &master,
        &format!(
            "UPDATE {DB}.t SET pad = CONCAT('x', MD5(-id), MD5(id * 7)) WHERE id BETWEEN 200001 AND {}",
            200_000 + ROWS / 100
        ),
    )
    .await;
    replicated(&sb, true).await;
    let incr = take(store.conf(&FLUSH)).await;
    assert!(incr.plan.is_incremental(), "{}", incr.plan);

    let (f, i) = (bytes_of(&full, "normal_0"), bytes_of(&incr, "normal_0"));
    eprintln!(
        "normal_0: full {f} bytes, incremental {i} bytes ({:.2} %)",
        i as f64 * 100.0 / f as f64
    );
    sql_on(&sb, &master, &format!("DROP DATABASE {DB}")).await;
    assert!(f > 50_000_000, "the full is too small to measure: {f}");
    assert!(i * 20 <= f, "incremental {i} bytes > 5 % of the full's {f}");

    for name in [full.plan.name, incr.plan.name] {
        let verified = backup::verify(&store.conf(&[]), &backup::Which::Named(name), None)
            .await
            .unwrap();
        assert!(
            !verified.is_empty() && verified.iter().all(|v| v.is_good()),
            "{verified:?}"
        );
    }
}
