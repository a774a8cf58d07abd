//! Bytes, rates and durations as the tools print them, in summaries and
//! on progress lines alike.

use std::time::Duration;

/// `512 B`, `1.5 KiB`, `12.3 MiB`, `1.02 GiB`: binary units, one decimal
/// (two for GiB and more).
pub fn bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let v = n as f64;
    if n < 1024 {
        format!("{n} B")
    } else if v < KIB * KIB {
        format!("{:.1} KiB", v / KIB)
    } else if v < KIB * KIB * KIB {
        format!("{:.1} MiB", v / (KIB * KIB))
    } else if v < KIB * KIB * KIB * KIB {
        format!("{:.2} GiB", v / (KIB * KIB * KIB))
    } else {
        format!("{:.2} TiB", v / (KIB * KIB * KIB * KIB))
    }
}

/// Megabytes (10^6 bytes) per second of `n` bytes in `took`, one
/// decimal; `-` when no time was measured (nothing to divide by).
pub fn mb_per_s(n: u64, took: Duration) -> String {
    let secs = took.as_secs_f64();
    if secs <= 0.0 {
        return "-".to_owned();
    }
    format!("{:.1}", n as f64 / 1e6 / secs)
}

/// Seconds with one decimal (`0.0`, `12.3`).
pub fn secs(took: Duration) -> String {
    format!("{:.1}", took.as_secs_f64())
}

/// A table of `rows` under `header`, every column as wide as its widest
/// cell: the first `text` columns left-aligned, the others (numbers)
/// right-aligned, two spaces between, no trailing blanks; one line each,
/// ending in `\n`.
pub fn table(header: &[&str], text: usize, rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            } else {
                widths.push(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            let sep = if i == 0 { "" } else { "  " };
            if i < text {
                out += &format!("{sep}{cell:<w$}");
            } else {
                out += &format!("{sep}{cell:>w$}");
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_pick_the_unit_that_fits() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(12_897_484), "12.3 MiB");
        assert_eq!(bytes(1 << 30), "1.00 GiB");
        assert_eq!(bytes(3 << 40), "3.00 TiB");
    }

    #[test]
    fn a_rate_without_time_is_a_dash_not_infinity() {
        assert_eq!(mb_per_s(1_000_000, Duration::ZERO), "-");
        assert_eq!(mb_per_s(0, Duration::ZERO), "-");
        assert_eq!(mb_per_s(0, Duration::from_secs(3)), "0.0");
        assert_eq!(mb_per_s(300_000_000, Duration::from_secs(2)), "150.0");
        assert_eq!(mb_per_s(1, Duration::from_nanos(1)), "1000.0");
    }

    #[test]
    fn seconds_have_one_decimal() {
        assert_eq!(secs(Duration::ZERO), "0.0");
        assert_eq!(secs(Duration::from_millis(12_345)), "12.3");
    }

    #[test]
    fn tables_align_on_the_widest_cell() {
        let t = table(
            &["server", "bytes"],
            1,
            &[
                vec!["a".into(), "1.0 KiB".into()],
                vec!["long_name".into(), "5 B".into()],
            ],
        );
        assert_eq!(
            t,
            "server       bytes\n\
             a          1.0 KiB\n\
             long_name      5 B\n"
        );
    }

    #[test]
    fn an_empty_last_cell_leaves_no_trailing_blank() {
        let t = table(&["a", "b"], 2, &[vec!["x".into(), String::new()]]);
        assert_eq!(t, "a  b\nx\n");
    }
}
