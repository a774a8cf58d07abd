//! Parsing what the scripts of [`crate::script`] print, and judging a
//! finished pipeline (pure, no I/O).

/// One stdout line of a transfer script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    /// Sender: checks passed, data is flowing.
    Started,
    /// Receiver: socat listens.
    Listening,
    /// Receiver: the port is taken.
    InUse,
    /// Receiver: socat did not listen within the bound.
    ListenTimeout,
    /// Receiver: the native receiver is not installed on the host.
    NoNative,
    /// Receiver: socat ended before listening (its `PIPESTATUS`).
    Failed(String),
    /// Receiver: bytes received so far.
    Progress(u64),
    /// Both: the pipeline finished.
    Done(Outcome),
    /// Both: a precondition failed.
    Error(String),
    /// Anything else (kept for messages).
    Other(String),
}

/// A finished pipeline: each stage's exit status, the byte count and the
/// SHA-256 (when computed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// `PIPESTATUS`, in stage order.
    pub codes: Vec<i32>,
    /// Bytes sent or received.
    pub bytes: Option<u64>,
    /// Lowercase hex SHA-256 of the stream.
    pub sha256: Option<String>,
}

impl Outcome {
    /// The stage that failed, as `(name, status)`: the first one that did
    /// not just die of SIGPIPE (141, a victim of a later stage's death),
    /// else the first one that failed.
    pub fn failed_stage<'a>(&self, stages: &'a [String]) -> Option<(&'a str, i32)> {
        let failed = || self.codes.iter().enumerate().filter(|(_, c)| **c != 0);
        failed()
            .find(|(_, c)| **c != 141)
            .or_else(|| failed().next())
            .map(|(i, c)| (stages.get(i).map_or("?", String::as_str), *c))
    }
}

pub(crate) fn parse_line(line: &str) -> Line {
    let line = line.trim_end();
    match line {
        "S" => return Line::Started,
        "L" => return Line::Listening,
        "U" => return Line::InUse,
        "T" => return Line::ListenTimeout,
        "N" => return Line::NoNative,
        _ => {}
    }
    if let Some(rest) = line.strip_prefix("P ") {
        if let Ok(n) = rest.trim().parse::<i64>() {
            return Line::Progress(u64::try_from(n).unwrap_or(0));
        }
    } else if line == "F" || line.starts_with("F ") {
        return Line::Failed(line[1..].trim().to_owned());
    } else if let Some(rest) = line.strip_prefix("E ") {
        return Line::Error(rest.to_owned());
    } else if let Some(rest) = line.strip_prefix("R ")
        && let Some(outcome) = parse_outcome(rest)
    {
        return Line::Done(outcome);
    }
    Line::Other(line.to_owned())
}

/// `codes;bytes;sha` with `-` for an unknown byte count or hash.
fn parse_outcome(text: &str) -> Option<Outcome> {
    let mut parts = text.split(';');
    let codes = parts
        .next()?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<Vec<i32>, _>>()
        .ok()?;
    if codes.is_empty() {
        return None;
    }
    let bytes = match parts.next()?.trim() {
        "-" | "" => None,
        n => Some(n.parse().ok()?),
    };
    let sha256 = match parts.next()?.trim() {
        "-" | "" => None,
        s if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) => Some(s.to_lowercase()),
        _ => return None,
    };
    Some(Outcome {
        codes,
        bytes,
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_line_kind() {
        assert_eq!(parse_line("L\n"), Line::Listening);
        assert_eq!(parse_line("U"), Line::InUse);
        assert_eq!(parse_line("T"), Line::ListenTimeout);
        assert_eq!(parse_line("N\n"), Line::NoNative);
        assert_eq!(parse_line("S"), Line::Started);
        assert_eq!(parse_line("P 1024"), Line::Progress(1024));
        assert_eq!(parse_line("P -3"), Line::Progress(0));
        assert_eq!(parse_line("F 1"), Line::Failed("1".into()));
        assert_eq!(
            parse_line("E cannot stat /x"),
            Line::Error("cannot stat /x".into())
        );
        let sha = "a".repeat(64);
        assert_eq!(
            parse_line(&format!("R 0 141 0;100;{sha}")),
            Line::Done(Outcome {
                codes: vec![0, 141, 0],
                bytes: Some(100),
                sha256: Some(sha),
            })
        );
        assert_eq!(
            parse_line("R 0;-;-"),
            Line::Done(Outcome {
                codes: vec![0],
                bytes: None,
                sha256: None,
            })
        );
        assert!(matches!(parse_line("R x;1;-"), Line::Other(_)));
        assert!(matches!(parse_line("R 0;1;nothex"), Line::Other(_)));
        assert!(matches!(parse_line("hello"), Line::Other(_)));
    }

    #[test]
    fn names_the_first_failed_stage() {
        let o = Outcome {
            codes: vec![0, 2, 141],
            bytes: None,
            sha256: None,
        };
        let stages = ["cat".to_owned(), "tee".to_owned(), "socat".to_owned()];
        assert_eq!(o.failed_stage(&stages), Some(("tee", 2)));
        let victim = Outcome {
            codes: vec![0, 141, 137],
            ..o.clone()
        };
        assert_eq!(victim.failed_stage(&stages), Some(("socat", 137)));
        let only_pipe = Outcome {
            codes: vec![141, 0, 0],
            ..o.clone()
        };
        assert_eq!(only_pipe.failed_stage(&stages), Some(("cat", 141)));
        let ok = Outcome {
            codes: vec![0, 0],
            ..o
        };
        assert_eq!(ok.failed_stage(&stages), None);
    }
}
