//! `cargo xtask demo`: brings the sandbox up and shows what the tools see.
//! It grows with the project into the full backup → recovery job.

use anyhow::Result;

/// Sandbox up, then the production topology as the router emulator reports it.
pub fn run() -> Result<()> {
    let paths = crate::sandbox::paths();
    crate::sandbox::up(&paths)?;
    crate::sandbox::print_topology(&paths)
}
