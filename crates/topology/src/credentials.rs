//! MySQL credentials of the dataservers, read from the router's flushed
//! configuration (`dbscale flush all config to file '...'`).
//!
//! The file has one `[data-server NAME]` section per server with
//! `user = ...` and `password = ...` lines; when the file says
//! `encode-password = 1` the passwords are base64-encoded.
//!
//! ```
//! use topology::parse_dbscale_conf;
//! let conf = "[main]\nencode-password = 1\n\n[data-server normal_0_0]\nhost = 10.0.0.1\nuser = dbscale_internal\npassword = c2VjcmV0\n";
//! let creds = parse_dbscale_conf(conf).unwrap();
//! let c = creds.get("normal_0_0").unwrap();
//! assert_eq!(c.user, "dbscale_internal");
//! assert_eq!(c.password.expose(), "secret");
//! ```

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;

use crate::ServerName;

/// A password. Its `Debug` and `Display` print `***`; [`Password::expose`]
/// gives the text to whoever must hand it to a server.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password text.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the password is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A MySQL login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// User name.
    pub user: String,
    /// Password (empty when the configuration has none).
    pub password: Password,
}

/// Credentials of each dataserver.
pub type ServerCredentials = BTreeMap<ServerName, Credential>;

/// Why the flushed configuration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// A `[data-server NAME]` section has a password but no user.
    #[error("dbscale config: [data-server {server}] has a password but no user")]
    NoUser {
        /// The server.
        server: String,
    },
    /// `encode-password = 1` but a password is not valid base64 UTF-8.
    #[error(
        "dbscale config: encode-password = 1 but the password of [data-server {server}] is not base64-encoded UTF-8"
    )]
    BadEncoding {
        /// The server.
        server: String,
    },
}

/// `key = value` with the seed's reading: the value is what follows `=`
/// after at most one space, kept verbatim otherwise (a password may start
/// or end with spaces).
fn key_value(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once('=')?;
    let value = value.strip_prefix(' ').unwrap_or(value);
    Some((key.trim(), value.strip_suffix('\r').unwrap_or(value)))
}

/// Reads the credentials of every `[data-server NAME]` section.
///
/// Rules (those of the seed's regular expressions, read line by line):
/// the first `encode-password = 0|1` anywhere decides whether passwords are
/// base64; inside a section the last `user` and the last `password` line win;
/// a section without `password` has an empty one; sections without `user`
/// or `password` are ignored, one with a password but no user is an error.
pub fn parse_dbscale_conf(text: &str) -> Result<ServerCredentials, CredentialsError> {
    let encoded = text
        .lines()
        .filter_map(key_value)
        .find(|(key, _)| *key == "encode-password")
        .is_some_and(|(_, value)| value.trim() == "1");

    let mut sections: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    let mut in_data_server = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            let header = trimmed[1..trimmed.len() - 1].trim();
            in_data_server = match header.strip_prefix("data-server") {
                Some(name) if name.starts_with([' ', '\t']) => {
                    sections.push((name.trim().to_owned(), None, None));
                    true
                }
                _ => false,
            };
            continue;
        }
        let Some(section) = sections.last_mut().filter(|_| in_data_server) else {
            continue;
        };
        match key_value(line) {
            Some(("user", value)) => section.1 = Some(value.trim().to_owned()),
            Some(("password", value)) => section.2 = Some(value.to_owned()),
            _ => {}
        }
    }

    let mut credentials = ServerCredentials::new();
    for (server, user, password) in sections {
        let password = match password {
            Some(p) if encoded && !p.is_empty() => decode(&server, p.trim())?,
            Some(p) => p,
            None => String::new(),
        };
        match user {
            Some(user) => {
                credentials.insert(
                    server.into(),
                    Credential {
                        user,
                        password: Password::new(password),
                    },
                );
            }
            None if !password.is_empty() => return Err(CredentialsError::NoUser { server }),
            None => {}
        }
    }
    Ok(credentials)
}

fn decode(server: &str, encoded: &str) -> Result<String, CredentialsError> {
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| CredentialsError::BadEncoding {
            server: server.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = include_str!("../tests/fixtures/dbscale_conf_plain.conf");
    const ENCODED: &str = include_str!("../tests/fixtures/dbscale_conf_encoded.conf");

    #[test]
    fn plain_passwords() {
        let creds = parse_dbscale_conf(PLAIN).unwrap();
        assert_eq!(creds.len(), 3);
        let c = &creds["normal_0_1"];
        assert_eq!(c.user, "dbscale_internal");
        assert_eq!(c.password.expose(), "p@ss;word#1 ");
        // last user/password lines of a section win; remote_user is not user
        assert_eq!(creds["normal_0_2"].user, "backup_user");
        assert_eq!(creds["normal_0_2"].password.expose(), "second");
        // no password line: empty password
        assert!(creds["normal_0_0"].password.is_empty());
    }

    #[test]
    fn encoded_passwords() {
        let creds = parse_dbscale_conf(ENCODED).unwrap();
        assert_eq!(creds["normal_0_0"].password.expose(), "123456");
        assert_eq!(creds["normal_0_1"].password.expose(), "p@ss word");
        assert_eq!(creds.len(), 2);
    }

    #[test]
    fn bad_encoding_names_the_server_not_the_password() {
        let err = parse_dbscale_conf(
            "encode-password=1\n[data-server s1]\nuser = u\npassword = not*base64\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            CredentialsError::BadEncoding {
                server: "s1".into()
            }
        );
        assert!(!err.to_string().contains("not*base64"));
    }

    #[test]
    fn password_without_user_is_an_error_and_empty_sections_are_ignored() {
        let err = parse_dbscale_conf("[data-server s1]\npassword = x\n").unwrap_err();
        assert_eq!(
            err,
            CredentialsError::NoUser {
                server: "s1".into()
            }
        );
        let creds =
            parse_dbscale_conf("[data-server s1]\nhost = h\n[data-serverx]\nuser = a\n").unwrap();
        assert!(creds.is_empty());
    }

    #[test]
    fn encode_password_zero_and_crlf() {
        let creds = parse_dbscale_conf(
            "encode-password = 0\r\n[data-server s1]\r\nuser = u\r\npassword = YQ==\r\n",
        )
        .unwrap();
        assert_eq!(creds["s1"].user, "u");
        assert_eq!(creds["s1"].password.expose(), "YQ==");
    }

    #[test]
    fn password_is_redacted_in_debug() {
        let c = Credential {
            user: "u".into(),
            password: Password::new("secret"),
        };
        assert!(!format!("{c:?}").contains("secret"));
        assert_eq!(Password::new("x").to_string(), "***");
    }
}
