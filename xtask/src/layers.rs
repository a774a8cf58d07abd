//! `cargo xtask layers`: the workspace's crate dependencies checked against
//! the table of allowed ones. A crate may use only the crates its row
//! names (normal dependencies; dev-dependencies are free), so the layering
//! in docs/ARCHITECTURE.md cannot drift: pure crates stay pure, engines know
//! no CLI and no other engine, test equipment never ships.

use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Every workspace crate and the workspace crates it may depend on.
/// `xtask` (developer chores) may use anything and is not listed.
pub const ALLOWED: &[(&str, &[&str])] = &[
    // pure: no I/O
    ("topology", &[]),
    ("binlog", &[]),
    ("aescrypt", &[]),
    ("qpress", &[]),
    // reaching hosts and servers
    ("remote-config", &[]),
    ("remote", &["remote-config"]),
    ("agent", &["remote"]),
    ("router", &["topology"]),
    // the seeds' formats and the building blocks of the engines
    ("conf", &["remote-config", "topology"]),
    ("stream", &["remote"]),
    ("store", &["aescrypt", "binlog", "remote"]),
    ("xtrabackup", &["remote", "router", "topology"]),
    // the catalog databases (SQL only)
    ("catalog", &["conf"]),
    // engines: no CLI, no other engine
    (
        "backup",
        &[
            "binlog",
            "catalog",
            "conf",
            "remote",
            "router",
            "store",
            "stream",
            "topology",
            "xtrabackup",
        ],
    ),
    (
        "recovery",
        &[
            "binlog",
            "conf",
            "remote",
            "router",
            "store",
            "stream",
            "topology",
            "xtrabackup",
        ],
    ),
    (
        "flashback",
        &[
            "binlog",
            "conf",
            "remote",
            "router",
            "stream",
            "topology",
            "xtrabackup",
        ],
    ),
    (
        "logical",
        &["catalog", "conf", "remote", "router", "stream"],
    ),
    // what every binary does alike
    ("cli", &[]),
    // thin binaries
    ("dbbackup", &["backup", "catalog", "cli", "conf", "store"]),
    ("dbcatalog", &["catalog", "cli", "conf", "logical"]),
    ("dbrecover", &["catalog", "cli", "conf", "recovery"]),
    ("dr-flashback", &["cli", "conf", "flashback"]),
    ("dbcrypt", &["aescrypt", "cli"]),
    ("dbqpress", &["cli", "qpress"]),
    ("dbagent", &["agent", "cli", "remote"]),
    // test equipment: a dev-dependency only
    ("testkit", &["router"]),
    ("dbscale-sim", &[]),
];

/// Checks the workspace (via `cargo metadata`) against [`ALLOWED`].
pub fn run() -> Result<()> {
    let graph = workspace_graph()?;
    let problems = violations(&graph);
    if !problems.is_empty() {
        bail!(
            "the crate layering is broken (see xtask/src/layers.rs and docs/ARCHITECTURE.md):\n  {}",
            problems.join("\n  ")
        );
    }
    eprintln!("layers: {} crates, every dependency allowed", graph.len());
    Ok(())
}

/// Each workspace crate's normal dependencies on other workspace crates.
fn workspace_graph() -> Result<BTreeMap<String, BTreeSet<String>>> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(crate::util::workspace_root())
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("cargo metadata printed no JSON")?;
    graph_of(&meta)
}

/// The graph from `cargo metadata`'s JSON.
fn graph_of(meta: &serde_json::Value) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let packages = meta["packages"]
        .as_array()
        .context("cargo metadata: no packages")?;
    let names: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut graph = BTreeMap::new();
    for p in packages {
        let name = p["name"].as_str().context("a package without a name")?;
        let deps = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str())
            .filter(|d| names.contains(d))
            .map(str::to_owned)
            .collect();
        graph.insert(name.to_owned(), deps);
    }
    Ok(graph)
}

/// Every edge of `graph` the table does not allow, and every crate it
/// does not list, in words.
fn violations(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let table: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut problems = Vec::new();
    for (krate, deps) in graph {
        if krate == "xtask" {
            continue;
        }
        let Some(allowed) = table.get(krate.as_str()) else {
            problems.push(format!(
                "{krate} is not in the layer table: give it a row in xtask/src/layers.rs and docs/ARCHITECTURE.md"
            ));
            continue;
        };
        for dep in deps {
            if !allowed.contains(&dep.as_str()) {
                problems.push(format!(
                    "{krate} may not depend on {dep} (it may use: {})",
                    if allowed.is_empty() {
                        "no workspace crate".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                ));
            }
        }
    }
    problems
}

/// The table as the Markdown docs/ARCHITECTURE.md holds.
pub fn markdown() -> String {
    let mut out = String::from("| crate | may depend on |\n| --- | --- |\n");
    for (krate, deps) in ALLOWED {
        let deps = if deps.is_empty() {
            "(no workspace crate)".to_owned()
        } else {
            deps.iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out += &format!("| `{krate}` | {deps} |\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed_graph() -> BTreeMap<String, BTreeSet<String>> {
        ALLOWED
            .iter()
            .map(|(k, deps)| {
                (
                    (*k).to_owned(),
                    deps.iter().map(|d| (*d).to_owned()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn the_table_itself_passes() {
        assert_eq!(violations(&allowed_graph()), Vec::<String>::new());
    }

    #[test]
    fn a_forbidden_edge_and_an_unlisted_crate_fail() {
        let mut g = allowed_graph();
        g.get_mut("topology").unwrap().insert("remote".into());
        g.get_mut("backup").unwrap().insert("cli".into());
        g.insert("newcrate".into(), BTreeSet::new());
        g.insert("xtask".into(), ["testkit".to_owned()].into());
        assert_eq!(
            violations(&g),
            [
                "backup may not depend on cli (it may use: binlog, catalog, conf, remote, router, store, stream, topology, xtrabackup)",
                "newcrate is not in the layer table: give it a row in xtask/src/layers.rs and docs/ARCHITECTURE.md",
                "topology may not depend on remote (it may use: no workspace crate)",
            ]
        );
    }

    #[test]
    fn dev_dependencies_and_outside_crates_are_not_edges() {
        let meta = serde_json::json!({"packages": [
            {"name": "topology", "dependencies": [
                {"name": "testkit", "kind": "dev"},
                {"name": "serde", "kind": null}]},
            {"name": "testkit", "dependencies": []},
            {"name": "router", "dependencies": [{"name": "topology", "kind": null}]},
        ]});
        let g = graph_of(&meta).unwrap();
        assert!(g["topology"].is_empty());
        assert_eq!(g["router"], ["topology".to_owned()].into());
    }

    #[test]
    fn architecture_md_holds_the_table() {
        let doc =
            std::fs::read_to_string(crate::util::workspace_root().join("docs/ARCHITECTURE.md"))
                .unwrap();
        assert!(
            doc.contains(&markdown()),
            "docs/ARCHITECTURE.md does not hold the table `cargo xtask layers --print` prints"
        );
    }
}
