//! Sizes: a directory's bytes, and `bk_size`'s human form as `du -sh`
//! prints it (`480M`, `4.5K`), which fits the column's 10 characters.

use std::path::Path;

/// Total bytes of the regular files under `dir` (symlinks not followed).
pub fn dir_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            total += dir_bytes(&entry.path())?;
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}

/// `du -h` style: bytes below 1 KiB as they are, else the smallest unit
/// (K, M, G, T, P) under 1024, rounded up, with one decimal below 10.
pub fn human(bytes: u64) -> String {
    if bytes < 1024 {
        return bytes.to_string();
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    const UNITS: [&str; 6] = ["", "K", "M", "G", "T", "P"];
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        let tenths = (value * 10.0).ceil() / 10.0;
        if tenths < 10.0 {
            return format!("{tenths:.1}{}", UNITS[unit]);
        }
        return format!("10{}", UNITS[unit]);
    }
    let whole = value.ceil();
    if whole >= 1024.0 && unit < UNITS.len() - 1 {
        return format!("1.0{}", UNITS[unit + 1]);
    }
    format!("{whole:.0}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_du() {
        assert_eq!(human(0), "0");
        assert_eq!(human(1023), "1023");
        assert_eq!(human(1024), "1.0K");
        assert_eq!(human(4600), "4.5K");
        assert_eq!(human(10 * 1024 - 1), "10K");
        assert_eq!(human(480 * 1024 * 1024), "480M");
        assert_eq!(human(480 * 1024 * 1024 + 1), "481M");
        assert_eq!(human(1024 * 1024 * 1024 - 1), "1.0G");
        assert_eq!(human(3 * 1024 * 1024 * 1024 / 2), "1.5G");
        assert!(human(u64::MAX).len() <= 10);
    }

    #[test]
    fn counts_nested_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join("d/b"), [0u8; 28]).unwrap();
        assert_eq!(dir_bytes(dir.path()).unwrap(), 128);
    }
}
