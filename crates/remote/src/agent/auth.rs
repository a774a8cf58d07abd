//! Request authentication for the adm-agent: HMAC-SHA256 with a shared
//! secret over the method, path, a timestamp, a nonce and the body's
//! SHA-256. The agent refuses a timestamp outside [`MAX_SKEW`] and a nonce it
//! has seen within the window (a replay).

use hmac::Mac as _;
use sha2::Digest as _;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Header carrying the Unix timestamp (seconds).
pub const TIMESTAMP: &str = "x-dbagent-timestamp";
/// Header carrying the random nonce (hex).
pub const NONCE: &str = "x-dbagent-nonce";
/// Header carrying the signature (hex).
pub const SIGNATURE: &str = "x-dbagent-signature";
/// Largest accepted difference between the client's and agent's clocks.
pub const MAX_SKEW: Duration = Duration::from_secs(300);

/// The shared secret (zeroed on drop, never printed).
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// A secret from bytes (surrounding whitespace of a file is trimmed).
    pub fn new(bytes: impl AsRef<[u8]>) -> Secret {
        Secret(Zeroizing::new(bytes.as_ref().trim_ascii().to_vec()))
    }

    /// Reads a secret file.
    pub fn from_file(path: &std::path::Path) -> std::io::Result<Secret> {
        let bytes = Zeroizing::new(std::fs::read(path)?);
        if bytes.trim_ascii().len() < 16 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} holds a secret shorter than 16 bytes", path.display()),
            ));
        }
        Ok(Secret::new(&*bytes))
    }

    fn mac(&self, method: &str, path: &str, ts: &str, nonce: &str, body: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length.
        let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        let body_hash = hex::encode(sha2::Sha256::digest(body));
        mac.update(format!("dbagent-v1\n{method}\n{path}\n{ts}\n{nonce}\n{body_hash}").as_bytes());
        mac
    }

    /// The three headers for a request.
    pub fn sign(&self, method: &str, path: &str, body: &[u8]) -> [(&'static str, String); 3] {
        let ts = unix_now().to_string();
        let mut n = [0u8; 16];
        let _ = getrandom::fill(&mut n);
        let nonce = hex::encode(n);
        let sig = hex::encode(
            self.mac(method, path, &ts, &nonce, body)
                .finalize()
                .into_bytes(),
        );
        [(TIMESTAMP, ts), (NONCE, nonce), (SIGNATURE, sig)]
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A header is missing or malformed.
    #[error("missing or malformed {0} header")]
    Malformed(&'static str),
    /// The timestamp is too far from the agent's clock.
    #[error("timestamp outside the accepted window")]
    Stale,
    /// The signature does not match.
    #[error("bad signature")]
    BadSignature,
    /// The nonce was already used.
    #[error("replayed request")]
    Replay,
}

/// The agent's checker: the secret plus the nonces seen recently.
#[derive(Debug)]
pub struct Verifier {
    secret: Secret,
    seen: Mutex<HashMap<String, Instant>>,
}

impl Verifier {
    /// A verifier for `secret`.
    pub fn new(secret: Secret) -> Verifier {
        Verifier {
            secret,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Checks a request; `header` looks a header up by name.
    pub fn verify<'a>(
        &self,
        method: &str,
        path: &str,
        header: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
    ) -> Result<(), Refusal> {
        let ts = header(TIMESTAMP).ok_or(Refusal::Malformed(TIMESTAMP))?;
        let nonce = header(NONCE)
            .filter(|n| (16..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or(Refusal::Malformed(NONCE))?;
        let sig = header(SIGNATURE)
            .and_then(|s| hex::decode(s).ok())
            .ok_or(Refusal::Malformed(SIGNATURE))?;
        let t: u64 = ts.parse().map_err(|_| Refusal::Malformed(TIMESTAMP))?;
        if t.abs_diff(unix_now()) > MAX_SKEW.as_secs() {
            return Err(Refusal::Stale);
        }
        self.secret
            .mac(method, path, ts, nonce, body)
            .verify_slice(&sig)
            .map_err(|_| Refusal::BadSignature)?;
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if seen.len() > 10_000 {
            seen.retain(|_, at| now.duration_since(*at) < 2 * MAX_SKEW);
        }
        if seen.insert(nonce.to_owned(), now).is_some() {
            return Err(Refusal::Replay);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(h: &'a [(&'static str, String)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
        move |name| h.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn signed_request_passes_once() {
        let secret = Secret::new("0123456789abcdef-secret");
        let v = Verifier::new(secret.clone());
        let h = secret.sign("POST", "/v1/exec", b"{}");
        assert_eq!(v.verify("POST", "/v1/exec", lookup(&h), b"{}"), Ok(()));
        assert_eq!(
            v.verify("POST", "/v1/exec", lookup(&h), b"{}"),
            Err(Refusal::Replay)
        );
    }

    #[test]
    fn tampering_and_wrong_secret_are_refused() {
        let secret = Secret::new("0123456789abcdef-secret");
        let v = Verifier::new(secret.clone());
        let h = secret.sign("POST", "/v1/exec", b"{}");
        assert_eq!(
            v.verify("POST", "/v1/exec", lookup(&h), b"{\"x\":1}"),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            v.verify("POST", "/v1/kill", lookup(&h), b"{}"),
            Err(Refusal::BadSignature)
        );
        let other = Secret::new("another-secret-of-16");
        let h2 = other.sign("POST", "/v1/exec", b"{}");
        assert_eq!(
            v.verify("POST", "/v1/exec", lookup(&h2), b"{}"),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            v.verify("POST", "/v1/exec", |_| None, b"{}"),
            Err(Refusal::Malformed(TIMESTAMP))
        );
    }

    #[test]
    fn stale_timestamps_are_refused() {
        let secret = Secret::new("0123456789abcdef-secret");
        let v = Verifier::new(secret.clone());
        let mut h = secret.sign("POST", "/p", b"");
        h[0].1 = (unix_now() - 3600).to_string();
        assert_eq!(v.verify("POST", "/p", lookup(&h), b""), Err(Refusal::Stale));
    }
}
