//! What a mydumper output directory holds: its databases (`db-schema-create.sql`),
//! tables (`db.table-schema.sql`) and which tables have data files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One mydumper output directory (it has a `metadata` file).
#[derive(Debug, Clone, Default)]
pub struct DumpDir {
    /// The directory.
    pub dir: PathBuf,
    /// Its databases.
    pub databases: Vec<String>,
    /// Its tables (and views), `(db, table)`.
    pub tables: BTreeSet<(String, String)>,
    /// The tables with a data file.
    pub with_data: BTreeSet<(String, String)>,
}

/// Every dump directory at or under `root`.
pub fn find(root: &Path) -> std::io::Result<Vec<DumpDir>> {
    let mut out = Vec::new();
    walk(root, &mut out)?;
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<DumpDir>) -> std::io::Result<()> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            walk(&entry.path(), out)?;
        } else if let Some(n) = entry.file_name().to_str() {
            names.push(n.to_owned());
        }
    }
    if names.iter().any(|n| n == "metadata") {
        let mut d = classify(&names);
        d.dir = dir.to_owned();
        out.push(d);
    }
    Ok(())
}

/// Sorts file names into databases, tables and data.
pub fn classify(names: &[String]) -> DumpDir {
    let mut d = DumpDir::default();
    let mut dbs = BTreeSet::new();
    for n in names {
        let n = n.strip_suffix(".gz").unwrap_or(n);
        let Some(stem) = n.strip_suffix(".sql") else {
            continue;
        };
        if let Some(db) = stem.strip_suffix("-schema-create") {
            dbs.insert(db.to_owned());
        } else if let Some(t) = stem
            .strip_suffix("-schema")
            .or_else(|| stem.strip_suffix("-schema-view"))
        {
            if let Some((db, table)) = t.split_once('.') {
                d.tables.insert((db.to_owned(), table.to_owned()));
            }
        } else if !stem.contains("-schema")
            && let Some((db, rest)) = stem.split_once('.')
        {
            // `db.table.sql` or a chunk `db.table.00001.sql`.
            let table = match rest.rsplit_once('.') {
                Some((t, chunk)) if chunk.chars().all(|c| c.is_ascii_digit()) => t,
                _ => rest,
            };
            d.with_data.insert((db.to_owned(), table.to_owned()));
        }
    }
    for (db, _) in &d.tables {
        dbs.insert(db.clone());
    }
    d.databases = dbs.into_iter().collect();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mydumper_file_names() {
        let names: Vec<String> = [
            "metadata",
            "day_hour-schema-create.sql.gz",
            "day_hour.day-schema.sql.gz",
            "day_hour.day.sql.gz",
            "day_hour.hour-schema.sql.gz",
            "day_hour.hour.00001.sql.gz",
            "day_hour.v-schema-view.sql",
            "day_hour.day-schema-triggers.sql",
            "day_hour-schema-post.sql",
        ]
        .map(String::from)
        .to_vec();
        let d = classify(&names);
        assert_eq!(d.databases, ["day_hour"]);
        let t = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(
            d.tables,
            [
                t("day_hour", "day"),
                t("day_hour", "hour"),
                t("day_hour", "v")
            ]
            .into_iter()
            .collect()
        );
        assert_eq!(
            d.with_data,
            [t("day_hour", "day"), t("day_hour", "hour")]
                .into_iter()
                .collect()
        );
    }
}
