//! Names of dataservers and datasources as the router reports them.

use std::borrow::Borrow;
use std::fmt;

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a name.
            pub fn new(name: impl Into<String>) -> Self {
                Self(name.into())
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(name: &str) -> Self {
                Self(name.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(name: String) -> Self {
                Self(name)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

name_type!(
    /// A dataserver name (`servername` in `dbscale show dataservers`, e.g. `normal_0_1`).
    ServerName
);
name_type!(
    /// A datasource name (`Name` in `dbscale show datasource`, e.g. `normal_0`).
    DatasourceName
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names_compare_and_borrow_as_str() {
        let set: BTreeSet<ServerName> = ["normal_0_1".into()].into();
        assert!(set.contains("normal_0_1"));
        assert_eq!(ServerName::new("a"), "a");
        assert_eq!(DatasourceName::from("ds".to_owned()).to_string(), "ds");
        assert_eq!(ServerName::from("x").as_ref(), "x");
    }
}
