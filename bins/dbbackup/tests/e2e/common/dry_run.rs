//! What a `--dry-run` of a test's store says the next run will do.

use testkit::{Sandbox, Server};

use super::TestStore;

/// The first replica the next run of `store` backs up, by its dry run.
pub fn planned_replica(sb: &Sandbox, store: &TestStore) -> Server {
    let plan = store.run(sb, &["--dry-run"], &[]);
    assert_eq!(plan.code, Some(0), "{plan}");
    sb.prod_servers()
        .into_iter()
        .find(|s| plan.stdout.contains(&format!("{} replica backup", s.name)))
        .unwrap_or_else(|| panic!("the dry run backs up no replica:\n{plan}"))
}
