//! `docs/benchmarks.md`: each benchmark owns one `## name` section and
//! rewrites only that one.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The section a run at `mib` MiB per datasource is recorded in: `heading`
/// at the default size (1024 MiB), `<heading> at <mib> MiB` beside it at
/// another (issue 20 compares 1 and 4 GiB).
pub fn sized_heading(heading: &str, mib: u64) -> String {
    if mib == 1024 {
        heading.to_owned()
    } else {
        format!("{heading} at {mib} MiB")
    }
}

/// Replaces the section headed `heading` (`## crypt`) in
/// `<root>/docs/benchmarks.md` with `section` (which starts with that
/// heading), or appends it; creates the file if needed.
pub fn record(root: &Path, heading: &str, section: &str) -> Result<PathBuf> {
    let file = root.join("docs").join("benchmarks.md");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|_| "# Benchmarks\n".to_owned());
    std::fs::write(&file, replace_section(&text, heading, section))
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(file)
}

/// The text with `heading`'s section (up to the next `## ` heading)
/// replaced by `section`, or `section` appended.
fn replace_section(text: &str, heading: &str, section: &str) -> String {
    let section = format!("{}\n", section.trim_end());
    let Some(start) = text.match_indices(heading).map(|(i, _)| i).find(|&i| {
        (i == 0 || text[..i].ends_with('\n')) && text[i + heading.len()..].starts_with('\n')
    }) else {
        return format!("{}\n\n{section}", text.trim_end());
    };
    let after = start + heading.len();
    let end = text[after..]
        .find("\n## ")
        .map_or(text.len(), |i| after + i + 1);
    let mut out = String::with_capacity(text.len() + section.len());
    out.push_str(&text[..start]);
    out.push_str(&section);
    if end < text.len() {
        out.push('\n');
        out.push_str(&text[end..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_its_own_section() {
        let text = "# B\n\n## crypt\nc\n\n## remote\nold\n\n## other\no\n";
        let out = replace_section(text, "## remote", "## remote\nnew\n");
        assert_eq!(out, "# B\n\n## crypt\nc\n\n## remote\nnew\n\n## other\no\n");
        let appended = replace_section("# B\n\n## crypt\nc\n", "## remote", "## remote\nnew\n");
        assert_eq!(appended, "# B\n\n## crypt\nc\n\n## remote\nnew\n");
    }

    #[test]
    fn a_heading_that_only_prefixes_another_is_not_its_section() {
        let text = "# B\n\n## crypto\nx\n";
        let out = replace_section(text, "## crypt", "## crypt\nnew");
        assert_eq!(out, "# B\n\n## crypto\nx\n\n## crypt\nnew\n");
    }
}
