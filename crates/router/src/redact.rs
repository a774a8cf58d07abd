//! Masking of secrets inside SQL text (for errors and logs).

/// Masks the quoted value after `password =` / `password '` style
/// assignments (`server_password="..."`, `MASTER_PASSWORD='...'`) and after
/// `IDENTIFIED BY`, case-insensitively.
///
/// ```
/// assert_eq!(
///     router::redact_statement("dbscale dynamic ADD DATASERVER server_user=\"u\",server_password=\"p@ss\""),
///     "dbscale dynamic ADD DATASERVER server_user=\"u\",server_password=\"***\"",
/// );
/// ```
pub fn redact_statement(sql: &str) -> String {
    let lower = sql.to_ascii_lowercase();
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some((key_end, next)) = next_key(&lower, search) {
        search = next;
        let rest = &sql[key_end..];
        let trimmed = rest.trim_start();
        let Some(quote) = trimmed.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            continue;
        };
        let value_start = key_end + (rest.len() - trimmed.len()) + 1;
        let value_end = sql[value_start..]
            .find(quote)
            .map_or(sql.len(), |i| value_start + i);
        out.push_str(&sql[copied..value_start]);
        out.push_str("***");
        copied = value_end;
        search = value_end.max(search);
    }
    out.push_str(&sql[copied..]);
    out
}

/// The next `password[ ]=` or `identified by` at or after `from`: returns
/// where its value may start and where to continue searching.
fn next_key(lower: &str, from: usize) -> Option<(usize, usize)> {
    let candidates = ["password", "identified by"];
    let (pos, key) = candidates
        .iter()
        .filter_map(|k| lower[from..].find(k).map(|i| (from + i, *k)))
        .min_by_key(|(i, _)| *i)?;
    let after = pos + key.len();
    if key == "password" {
        let rest = &lower[after..];
        let trimmed = rest.trim_start();
        match trimmed.strip_prefix('=') {
            Some(_) => Some((after + (rest.len() - trimmed.len()) + 1, after)),
            None => next_key(lower, after),
        }
    } else {
        Some((after, after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_form() {
        let cases = [
            ("select 1", "select 1"),
            ("dbscale show dataservers", "dbscale show dataservers"),
            (
                "CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD = 'x''y', MASTER_PORT=1",
                "CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD = '***''y', MASTER_PORT=1",
            ),
            (
                "create user a identified by 'pw'",
                "create user a identified by '***'",
            ),
            (
                "a password=\"1\" b PASSWORD = \"2\"",
                "a password=\"***\" b PASSWORD = \"***\"",
            ),
            ("password = unquoted", "password = unquoted"),
            ("password only", "password only"),
            ("x password='unterminated", "x password='***"),
        ];
        for (sql, expected) in cases {
            assert_eq!(redact_statement(sql), expected, "{sql}");
        }
    }
}
