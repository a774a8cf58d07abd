//! Request authentication for the adm-agent: HMAC-SHA256 with a shared
//! secret over the method, path, a timestamp, a nonce and the body's
//! SHA-256. The agent refuses a timestamp outside [`MAX_SKEW`] and a nonce it
//! has seen within the window (a replay).
//!
//! The body's SHA-256 also travels in the [`CONTENT_SHA256`] header, so the
//! agent checks the signature from the headers alone, before it reads a
//! byte of the body ([`Verifier::verify_head`]), and then checks the body
//! it reads against that digest ([`Signed::check_body`]).
//!
//! The nonce binds a request to the host it is meant for: its second half
//! is [`host_tag`] of the host as the controller names it, so a request
//! signed for one host is refused by every other agent sharing the secret.
//! Both additions keep the signed text unchanged, so a controller of this
//! version still talks to older agents (they ignore the extra header and
//! accept the longer nonce); an older controller's requests (no digest
//! header, no host in the nonce) are refused by this agent.

use hmac::Mac as _;
use sha2::Digest as _;
use std::collections::HashMap;
use std::net::IpAddr;
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
/// Header carrying the body's SHA-256 (hex), the digest the signature covers.
pub const CONTENT_SHA256: &str = "x-dbagent-content-sha256";
/// Largest accepted difference between the client's and agent's clocks.
pub const MAX_SKEW: Duration = Duration::from_secs(300);
/// Hex digits of the random half of a nonce (16 bytes).
const NONCE_RANDOM_HEX: usize = 32;
/// Hex digits of the host half of a nonce ([`host_tag`], 16 bytes).
const HOST_TAG_HEX: usize = 32;
/// Nonces remembered before the expired ones are swept out.
const SWEEP_ABOVE: usize = 10_000;

/// The host half of a nonce: the first 16 bytes of SHA-256 over the host
/// as the controller names it, in hex. An IP address is taken in its
/// canonical form, a name in lower case.
pub fn host_tag(host: &str) -> String {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    let canonical = match host.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => host.to_ascii_lowercase(),
    };
    let digest = sha2::Sha256::digest(format!("dbagent-host\n{canonical}").as_bytes());
    hex::encode(&digest[..HOST_TAG_HEX / 2])
}

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

    fn mac(&self, method: &str, path: &str, ts: &str, nonce: &str, body_hash: &str) -> HmacSha256 {
        // HMAC accepts keys of any length.
        let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(format!("dbagent-v1\n{method}\n{path}\n{ts}\n{nonce}\n{body_hash}").as_bytes());
        mac
    }

    /// The four headers for a request to the agent on `host` (the name or
    /// address the controller uses for it): timestamp, nonce (bound to
    /// `host`), signature, body digest, in that order.
    pub fn sign(
        &self,
        host: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> [(&'static str, String); 4] {
        self.sign_at(host, method, path, body, unix_now())
    }

    /// [`Secret::sign`] with an explicit Unix timestamp (tests of the
    /// agent's clock window use it).
    pub fn sign_at(
        &self,
        host: &str,
        method: &str,
        path: &str,
        body: &[u8],
        unix_secs: u64,
    ) -> [(&'static str, String); 4] {
        let ts = unix_secs.to_string();
        let mut n = [0u8; NONCE_RANDOM_HEX / 2];
        let _ = getrandom::fill(&mut n);
        let nonce = format!("{}{}", hex::encode(n), host_tag(host));
        let body_hash = hex::encode(sha2::Sha256::digest(body));
        let sig = hex::encode(
            self.mac(method, path, &ts, &nonce, &body_hash)
                .finalize()
                .into_bytes(),
        );
        [
            (TIMESTAMP, ts),
            (NONCE, nonce),
            (SIGNATURE, sig),
            (CONTENT_SHA256, body_hash),
        ]
    }
}

/// Reads an agent's secret file ([`Secret::from_file`]: at least 16
/// bytes) and warns when users other than its owner may read it: a
/// deployment mistake worth a log line, not a refusal (as for the TLS key).
pub fn read_agent_secret(path: &std::path::Path) -> std::io::Result<Secret> {
    use std::os::unix::fs::PermissionsExt as _;
    let secret = Secret::from_file(path)?;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the secret file can be read by other users; make it 0600"
        );
    }
    Ok(secret)
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
    /// The nonce names no host: the controller predates host binding.
    #[error("the request names no host (a controller older than this agent: upgrade it)")]
    Unbound,
    /// The timestamp is too far from the agent's clock.
    #[error("timestamp outside the accepted window")]
    Stale,
    /// The signature does not match.
    #[error("bad signature")]
    BadSignature,
    /// The request is signed for another host.
    #[error("the request is meant for another host")]
    OtherHost,
    /// The nonce was already used.
    #[error("replayed request")]
    Replay,
    /// The body is not the one the signature covers.
    #[error("the body does not match its signed digest")]
    BodyMismatch,
}

/// A request whose headers passed [`Verifier::verify_head`]: what its body
/// must hash to.
#[derive(Debug, Clone)]
pub struct Signed {
    digest: String,
}

impl Signed {
    /// Checks the body read after the headers against the signed digest.
    pub fn check_body(&self, body: &[u8]) -> Result<(), Refusal> {
        if hex::encode(sha2::Sha256::digest(body)) == self.digest {
            Ok(())
        } else {
            Err(Refusal::BodyMismatch)
        }
    }
}

/// The agent's checker: the secret, the host tags it answers to, and the
/// nonces seen recently.
#[derive(Debug)]
pub struct Verifier {
    secret: Secret,
    host_tags: Vec<String>,
    seen: Mutex<HashMap<String, Instant>>,
}

impl Verifier {
    /// A verifier for `secret` answering requests meant for any of
    /// `host_ids` (names or addresses) or for the address a request
    /// arrived at (see [`Verifier::verify_head`]).
    pub fn new(secret: Secret, host_ids: &[String]) -> Verifier {
        Verifier {
            secret,
            host_tags: host_ids.iter().map(|h| host_tag(h)).collect(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Checks a request's headers before its body is read: every header
    /// present and well formed, the timestamp within [`MAX_SKEW`], the
    /// signature over the signed digest, the host (one of the verifier's
    /// ids, or `local`, the address the request arrived at) and no replay.
    /// `header` looks a header up by name.
    pub fn verify_head<'a>(
        &self,
        method: &str,
        path: &str,
        header: impl Fn(&str) -> Option<&'a str>,
        local: Option<IpAddr>,
    ) -> Result<Signed, Refusal> {
        let ts = header(TIMESTAMP).ok_or(Refusal::Malformed(TIMESTAMP))?;
        let nonce = header(NONCE)
            .filter(|n| (16..=64).contains(&n.len()) && is_hex(n))
            .ok_or(Refusal::Malformed(NONCE))?;
        let sig = header(SIGNATURE)
            .and_then(|s| hex::decode(s).ok())
            .ok_or(Refusal::Malformed(SIGNATURE))?;
        let digest = header(CONTENT_SHA256)
            .filter(|d| d.len() == 64 && is_hex(d))
            .ok_or(Refusal::Malformed(CONTENT_SHA256))?
            .to_ascii_lowercase();
        if nonce.len() != NONCE_RANDOM_HEX + HOST_TAG_HEX {
            return Err(Refusal::Unbound);
        }
        let t: u64 = ts.parse().map_err(|_| Refusal::Malformed(TIMESTAMP))?;
        if t.abs_diff(unix_now()) > MAX_SKEW.as_secs() {
            return Err(Refusal::Stale);
        }
        self.secret
            .mac(method, path, ts, nonce, &digest)
            .verify_slice(&sig)
            .map_err(|_| Refusal::BadSignature)?;
        if !self.is_mine(&nonce[NONCE_RANDOM_HEX..], local) {
            return Err(Refusal::OtherHost);
        }
        self.remember(nonce)?;
        Ok(Signed { digest })
    }

    /// Checks a whole request at once (headers, then body).
    pub fn verify<'a>(
        &self,
        method: &str,
        path: &str,
        header: impl Fn(&str) -> Option<&'a str>,
        local: Option<IpAddr>,
        body: &[u8],
    ) -> Result<(), Refusal> {
        self.verify_head(method, path, header, local)?
            .check_body(body)
    }

    fn is_mine(&self, tag: &str, local: Option<IpAddr>) -> bool {
        let tag = tag.to_ascii_lowercase();
        self.host_tags.contains(&tag) || local.is_some_and(|ip| host_tag(&ip.to_string()) == tag)
    }

    fn remember(&self, nonce: &str) -> Result<(), Refusal> {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if seen.len() > SWEEP_ABOVE {
            seen.retain(|_, at| now.duration_since(*at) < 2 * MAX_SKEW);
        }
        if seen.insert(nonce.to_ascii_lowercase(), now).is_some() {
            return Err(Refusal::Replay);
        }
        Ok(())
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "db-1";

    fn lookup<'a>(h: &'a [(&'static str, String)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
        move |name| h.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    fn verifier(secret: &Secret) -> Verifier {
        Verifier::new(secret.clone(), &[HOST.to_owned()])
    }

    #[test]
    fn signed_request_passes_once() {
        let secret = Secret::new("0123456789abcdef-secret");
        let v = verifier(&secret);
        let h = secret.sign(HOST, "POST", "/v1/exec", b"{}");
        assert_eq!(
            v.verify("POST", "/v1/exec", lookup(&h), None, b"{}"),
            Ok(())
        );
        assert_eq!(
            v.verify("POST", "/v1/exec", lookup(&h), None, b"{}"),
            Err(Refusal::Replay)
        );
    }

    #[test]
    fn tampering_and_wrong_secret_are_refused() {
        let secret = Secret::new("0123456789abcdef-secret");
        let v = verifier(&secret);
        let h = secret.sign(HOST, "POST", "/v1/exec", b"{}");
        assert_eq!(
            v.verify("POST", "/v1/exec", lookup(&h), None, b"{\"x\":1}"),
            Err(Refusal::BodyMismatch)
        );
        let h = secret.sign(HOST, "POST", "/v1/exec", b"{}");
        assert_eq!(
            v.verify("POST", "/v1/kill", lookup(&h), None, b"{}"),
            Err(Refusal::BadSignature)
        );
        let other = Secret::new("another-secret-of-16");
        let h2 = other.sign(HOST, "POST", "/v1/exec", b"{}");
        assert_eq!(
            v.verify("POST", "/v1/exec", lookup(&h2), None, b"{}"),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            v.verify("POST", "/v1/exec", |_| None, None, b"{}"),
            Err(Refusal::Malformed(TIMESTAMP))
        );
    }

    #[test]
    fn stale_timestamps_are_refused() {
        let secret = Secret::new("0123456789abcdef-secret");
        let v = verifier(&secret);
        let h = secret.sign_at(HOST, "POST", "/p", b"", unix_now() - 3600);
        assert_eq!(
            v.verify("POST", "/p", lookup(&h), None, b""),
            Err(Refusal::Stale)
        );
    }

    #[test]
    fn requests_for_another_host_or_none_are_refused() {
        let secret = Secret::new("0123456789abcdef-secret");
        let v = verifier(&secret);
        let h = secret.sign("db-2", "POST", "/p", b"");
        assert_eq!(
            v.verify("POST", "/p", lookup(&h), None, b""),
            Err(Refusal::OtherHost)
        );
        // The address the request arrived at counts as this host.
        let h = secret.sign("[::1]", "POST", "/p", b"");
        let here = Some(IpAddr::from(std::net::Ipv6Addr::LOCALHOST));
        assert_eq!(v.verify("POST", "/p", lookup(&h), here, b""), Ok(()));
        // A nonce without the host half (an older controller).
        let mut h = secret.sign(HOST, "POST", "/p", b"");
        h[1].1.truncate(NONCE_RANDOM_HEX);
        assert_eq!(
            v.verify("POST", "/p", lookup(&h), None, b""),
            Err(Refusal::Unbound)
        );
        assert_eq!(host_tag("DB-1"), host_tag("db-1"));
    }
}
