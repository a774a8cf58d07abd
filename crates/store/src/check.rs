//! Checking a backup's files against its manifest: the script that lists
//! every file with its size and SHA-256 on the host that holds them (the
//! store, or a recovery job server after shipping), its parser, and the
//! comparison. Pure: the callers run the script through their transport.

use crate::manifest::FileEntry;
use remote::quote;
use std::collections::BTreeMap;

/// Lists `size<TAB>path` of every file under `dir` (but `ok` and the
/// manifest) and of `extra` (a path relative to `dir`), then `---`, then
/// the SHA-256 of each but the `hashed` ones (with
/// `pick_sha256`, a snippet setting `$sha256` to a hashing command, such
/// as `stream::PICK_SHA256`), one file per hashing process, as many at
/// once as the host has cores (a backup's two big streams hash side by
/// side; each line is one short write, so lines never mix).
pub fn listing_script<'a>(
    dir: &str,
    hashed: impl Iterator<Item = &'a str>,
    extra: Option<&str>,
    pick_sha256: &str,
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
         {{ {extra_hash}find . -type f ! -name ok ! -name manifest.json{skip} -print0 | sort -z; }} | \
         xargs -0 -r -n 1 -P \"$(nproc 2>/dev/null || echo 2)\" $sha256",
        dir = quote(dir),
        pick = pick_sha256,
    )
}

/// Parses [`listing_script`]'s output into `path -> entry`. Both hash
/// formats: `sha256sum`'s `HASH  ./path` and `openssl -r`'s `HASH *./path`.
pub fn parse_listing(text: &str) -> BTreeMap<String, FileEntry> {
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

/// Every difference between what the manifest lists and what is there,
/// in words naming `backup/<path>`.
pub fn compare(
    backup: &str,
    listed: &BTreeMap<String, FileEntry>,
    found: &BTreeMap<String, FileEntry>,
) -> Vec<String> {
    let mut problems: Vec<String> = listed
        .iter()
        .flat_map(|(path, want)| compare_one(&format!("{backup}/{path}"), want, found.get(path)))
        .collect();
    problems.extend(
        found
            .keys()
            .filter(|p| !listed.contains_key(*p))
            .map(|p| format!("{backup}/{p} is not in the manifest")),
    );
    problems
}

/// The difference between one listed file and what is there, if any.
pub fn compare_one(path: &str, want: &FileEntry, found: Option<&FileEntry>) -> Option<String> {
    let Some(found) = found else {
        return Some(format!("{path} is missing ({} bytes expected)", want.size));
    };
    if found.size != want.size {
        return Some(format!(
            "{path} holds {} bytes, {} expected",
            found.size, want.size
        ));
    }
    match (&want.sha256, &found.sha256) {
        (Some(w), Some(f)) if w != f => Some(format!(
            "{path}: SHA-256 {f} is not the manifest's {w} (the content changed)"
        )),
        (Some(_), None) => Some(format!("{path} could not be read back")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PICK: &str = "sha256=sha256sum";

    #[test]
    fn the_script_lists_and_hashes_real_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a b/.dbscale-backup")).unwrap();
        std::fs::write(d.path().join("a b/x"), "hello").unwrap();
        std::fs::write(d.path().join("a b/.dbscale-backup/manifest.json"), "{}").unwrap();
        std::fs::write(d.path().join("ok"), "ok\n").unwrap();
        let script = listing_script(d.path().to_str().unwrap(), std::iter::empty(), None, PICK);
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let files = parse_listing(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(files.keys().collect::<Vec<_>>(), ["a b/x"]);
        assert_eq!(files["a b/x"].size, 5);
        assert_eq!(
            files["a b/x"].sha256.as_deref(),
            Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        );
    }

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
        let script = listing_script(
            "/store/x y",
            ["ds-s/backup.xbsteam"].into_iter(),
            None,
            PICK,
        );
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
            PICK,
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

    fn entry(size: u64, sha: &str) -> FileEntry {
        FileEntry {
            size,
            sha256: Some(sha.into()),
        }
    }

    #[test]
    fn each_kind_of_damage_is_named() {
        let listed: BTreeMap<String, FileEntry> = [
            ("a/backup.xbsteam".into(), entry(10, "aa")),
            ("a/mysql-bin.000002".into(), entry(20, "bb")),
            ("a/my.conf".into(), entry(5, "cc")),
            ("executed_gtids".into(), entry(3, "dd")),
        ]
        .into();
        let found: BTreeMap<String, FileEntry> = [
            ("a/backup.xbsteam".into(), entry(10, "aa")),
            ("a/mysql-bin.000002".into(), entry(12, "xx")),
            ("a/my.conf".into(), entry(5, "zz")),
            ("stray".into(), entry(1, "ee")),
        ]
        .into();
        assert_eq!(
            compare("B", &listed, &found),
            [
                "B/a/my.conf: SHA-256 zz is not the manifest's cc (the content changed)",
                "B/a/mysql-bin.000002 holds 12 bytes, 20 expected",
                "B/executed_gtids is missing (3 bytes expected)",
                "B/stray is not in the manifest",
            ]
        );
        assert!(compare("B", &listed, &listed).is_empty());
    }
}
