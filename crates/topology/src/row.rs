//! The neutral row type every parser in this crate consumes.

/// One row of a result set: the columns in server order, each with its value
/// (`None` for SQL `NULL`).
///
/// The router client and test fixtures both produce `Row`s, so the parsers
/// never depend on a database driver.
///
/// ```
/// use topology::Row;
/// let row = Row::from_pairs([("servername", Some("normal_0_0")), ("remote_user", None)]);
/// assert_eq!(row.column("servername"), Some(Some("normal_0_0")));
/// assert_eq!(row.column("remote_user"), Some(None));
/// assert_eq!(row.column("nope"), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    columns: Vec<(String, Option<String>)>,
}

impl Row {
    /// An empty row.
    pub fn new() -> Self {
        Self::default()
    }

    /// A row from `(column, value)` pairs.
    pub fn from_pairs<K, V, I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, Option<V>)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            columns: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.map(Into::into)))
                .collect(),
        }
    }

    /// Appends a column.
    pub fn push(&mut self, column: impl Into<String>, value: Option<String>) {
        self.columns.push((column.into(), value));
    }

    /// Sets `column` to `value`, replacing an existing column of that exact
    /// name or appending one.
    pub fn set(&mut self, column: &str, value: Option<&str>) {
        let value = value.map(str::to_owned);
        match self.columns.iter_mut().find(|(name, _)| name == column) {
            Some((_, old)) => *old = value,
            None => self.columns.push((column.to_owned(), value)),
        }
    }

    /// Removes `column` (exact name), returning whether it was there.
    pub fn remove(&mut self, column: &str) -> bool {
        let before = self.columns.len();
        self.columns.retain(|(name, _)| name != column);
        self.columns.len() != before
    }

    /// The value of `column`: `None` when the row has no such column,
    /// `Some(None)` for `NULL`. Names match exactly, else ASCII
    /// case-insensitively (MySQL column names are case-insensitive).
    pub fn column(&self, column: &str) -> Option<Option<&str>> {
        self.columns
            .iter()
            .find(|(name, _)| name == column)
            .or_else(|| {
                self.columns
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(column))
            })
            .map(|(_, value)| value.as_deref())
    }

    /// Whether the row has `column`.
    pub fn has_column(&self, column: &str) -> bool {
        self.column(column).is_some()
    }

    /// The columns in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.columns.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the row has no column.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, Option<V>)> for Row {
    fn from_iter<I: IntoIterator<Item = (K, Option<V>)>>(iter: I) -> Self {
        Self::from_pairs(iter)
    }
}

/// What a `dbscale show datasource type=...` statement answered: rows, or
/// the router's error 9004 `No DataSource of the type.`, which is how it says
/// "there is no datasource of that type".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShowOutcome {
    /// The statement returned these rows (possibly none).
    Rows(Vec<Row>),
    /// The router answered error 9004 `No DataSource of the type.`.
    NoDatasourceOfType,
}

impl ShowOutcome {
    /// The rows; none for [`ShowOutcome::NoDatasourceOfType`].
    pub fn rows(&self) -> &[Row] {
        match self {
            ShowOutcome::Rows(rows) => rows,
            ShowOutcome::NoDatasourceOfType => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_exact_first_then_case_insensitive() {
        let row = Row::from_pairs([
            ("Name", Some("a")),
            ("name", Some("b")),
            ("Type", None::<&str>),
        ]);
        assert_eq!(row.column("name"), Some(Some("b")));
        assert_eq!(row.column("NAME"), Some(Some("a")));
        assert_eq!(row.column("type"), Some(None));
        assert!(row.has_column("TYPE"));
        assert!(!row.has_column("x"));
        assert_eq!(row.len(), 3);
        assert!(!row.is_empty());
        assert_eq!(row.iter().next(), Some(("Name", Some("a"))));
    }

    #[test]
    fn push_and_collect() {
        let mut row = Row::new();
        assert!(row.is_empty());
        row.push("a", Some("1".into()));
        row.set("b", Some("2"));
        row.set("b", None);
        assert_eq!(row.column("b"), Some(None));
        assert!(row.remove("b"));
        assert!(!row.remove("b"));
        let other: Row = [("a", Some("1"))].into_iter().collect();
        assert_eq!(row, other);
        assert!(ShowOutcome::NoDatasourceOfType.rows().is_empty());
        assert_eq!(ShowOutcome::Rows(vec![row]).rows().len(), 1);
    }
}
