//! What the rabbit-agent checks in a request before it runs it (see
//! [`super::rabbit_server`]): size, host, timestamp, and with a secret the
//! signature ([`remote::rabbit`] says what is signed). Pure: no broker, no
//! I/O but the clock.

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use remote::agent::auth::{self, MAX_SKEW, Secret, Verifier, host_tag};
use remote::rabbit::{HOST_HEADER, SIGNED_METHOD, signed_path};

/// Largest request body taken: the command plus its stdin (JSON), the same
/// cap as the adm-agent's `exec`
/// ([`crate::adm_server::MAX_EXEC_BODY`]).
pub const MAX_REQUEST_BYTES: usize = crate::adm_server::MAX_EXEC_BODY;

/// The checks of one agent's queue.
#[derive(Debug)]
pub struct Checks {
    /// The secret's verifier; none: requests are not signed.
    verifier: Option<Verifier>,
    host_id: String,
    queue: String,
}

impl Checks {
    /// The checks of the agent `host_id` consuming `queue`; with `secret`
    /// every request must be signed with it.
    pub fn new(host_id: &str, queue: &str, secret: Option<Secret>) -> Checks {
        Checks {
            verifier: secret.map(|s| Verifier::new(s, &[host_id.to_owned()])),
            host_id: host_id.to_owned(),
            queue: queue.to_owned(),
        }
    }

    /// Whether requests must be signed.
    pub fn signed(&self) -> bool {
        self.verifier.is_some()
    }

    /// Checks a request (its body and properties), cheapest first; a
    /// signed one's nonce is remembered, so its copy is [`Refusal::Replayed`].
    pub fn check(&self, body: &[u8], props: &BasicProperties) -> Result<(), Refusal> {
        check_request(body, props, self)
    }
}

/// Why a request is refused before it runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The body is over [`MAX_REQUEST_BYTES`].
    #[error("a request of {0} bytes is over the {MAX_REQUEST_BYTES}-byte limit")]
    TooLarge(usize),
    /// The request names another host.
    #[error("the request is meant for another host ({0})")]
    OtherHost(String),
    /// The request's timestamp is outside the window.
    #[error("the request's timestamp is outside the accepted window (expired or from the future)")]
    Expired,
    /// The agent takes signed requests only and this one carries no
    /// signature.
    #[error(
        "the request is not signed and this agent takes signed requests only (give the tool the agent's secret: [rabbit-agent] secret-file)"
    )]
    Unsigned,
    /// The signature does not pass.
    #[error("the request's signature does not pass: {0}")]
    BadSignature(auth::Refusal),
    /// The nonce was already taken: a replay or a redelivery (dropped
    /// without an answer, as the original was answered).
    #[error("replayed request")]
    Replayed,
}

/// The checks a request passes before it runs, cheapest first: size,
/// host, timestamp, and with a secret the signature (its headers, then
/// the body against the signed digest) and its nonce not seen before.
fn check_request(body: &[u8], props: &BasicProperties, gate: &Checks) -> Result<(), Refusal> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(Refusal::TooLarge(body.len()));
    }
    let headers = props.headers().as_ref().map(FieldTable::inner);
    match headers.and_then(|h| h.get(HOST_HEADER)) {
        None => {}
        Some(AMQPValue::LongString(s)) if host_tag(&s.to_string()) == host_tag(&gate.host_id) => {}
        Some(AMQPValue::ShortString(s)) if host_tag(s.as_str()) == host_tag(&gate.host_id) => {}
        Some(AMQPValue::LongString(s)) => {
            return Err(Refusal::OtherHost(printable(&s.to_string())));
        }
        Some(AMQPValue::ShortString(s)) => return Err(Refusal::OtherHost(printable(s.as_str()))),
        Some(_) => return Err(Refusal::OtherHost("a header that is no string".into())),
    }
    if let Some(ts) = *props.timestamp() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        if ts.abs_diff(now) > MAX_SKEW.as_secs() {
            return Err(Refusal::Expired);
        }
    }
    let Some(verifier) = &gate.verifier else {
        return Ok(());
    };
    let header = |name: &str| -> Option<&str> {
        match headers?.get(name)? {
            AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
            AMQPValue::ShortString(s) => Some(s.as_str()),
            _ => None,
        }
    };
    if [auth::TIMESTAMP, auth::NONCE, auth::SIGNATURE]
        .iter()
        .all(|name| header(name).is_none())
    {
        return Err(Refusal::Unsigned);
    }
    fn text(v: &Option<ShortString>) -> &str {
        v.as_ref().map_or("", ShortString::as_str)
    }
    let path = signed_path(
        &gate.queue,
        text(props.message_id()),
        text(props.correlation_id()),
        text(props.reply_to()),
    );
    verifier
        .verify(SIGNED_METHOD, &path, header, None, body)
        .map_err(|r| match r {
            auth::Refusal::Replay => Refusal::Replayed,
            other => Refusal::BadSignature(other),
        })
}

/// A host name from a message, cut short and without control characters
/// (it goes into a log line and an answer).
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use remote::rabbit::queue_name;

    fn gate(secret: Option<&Secret>) -> Checks {
        Checks::new("db-1", &queue_name("rds-dbinit", "db-1"), secret.cloned())
    }

    fn check(body: &[u8], props: &BasicProperties, gate: &Checks) -> Result<(), Refusal> {
        gate.check(body, props)
    }

    #[test]
    fn oversized_other_host_and_expired_requests_are_refused() {
        let mut named = FieldTable::default();
        named.insert(
            ShortString::from(HOST_HEADER),
            AMQPValue::LongString("db-1".into()),
        );
        let props = BasicProperties::default().with_headers(named);
        let mut other = gate(None);
        other.host_id = "db-2".into();
        assert_eq!(check(b"{}", &props, &gate(None)), Ok(()));
        assert_eq!(
            check(b"{}", &BasicProperties::default(), &gate(None)),
            Ok(())
        );
        assert_eq!(
            check(b"{}", &props, &other),
            Err(Refusal::OtherHost("db-1".into()))
        );
        let big = vec![b' '; MAX_REQUEST_BYTES + 1];
        assert_eq!(
            check(&big, &props, &gate(None)),
            Err(Refusal::TooLarge(MAX_REQUEST_BYTES + 1))
        );
        let old = BasicProperties::default().with_timestamp(1_000_000);
        assert_eq!(check(b"{}", &old, &gate(None)), Err(Refusal::Expired));
    }

    /// A request as the client signs it (see `crate::rabbit`).
    fn signed(
        secret: &Secret,
        host: &str,
        id: &str,
        reply_to: &str,
        body: &[u8],
    ) -> BasicProperties {
        let path = signed_path(&queue_name("rds-dbinit", host), id, id, reply_to);
        let mut headers = FieldTable::default();
        headers.insert(
            ShortString::from(HOST_HEADER),
            AMQPValue::LongString(host.into()),
        );
        for (name, value) in secret.sign(host, SIGNED_METHOD, &path, body) {
            headers.insert(ShortString::from(name), AMQPValue::LongString(value.into()));
        }
        BasicProperties::default()
            .with_message_id(ShortString::from(id))
            .with_correlation_id(ShortString::from(id))
            .with_reply_to(ShortString::from(reply_to))
            .with_headers(headers)
    }

    #[test]
    fn with_a_secret_only_signed_requests_pass_and_once() {
        let secret = Secret::new("0123456789abcdef-secret");
        let g = gate(Some(&secret));
        let props = signed(&secret, "db-1", "ab01", "amq.gen-1", b"{}");
        assert_eq!(check(b"{}", &props, &g), Ok(()));
        assert_eq!(check(b"{}", &props, &g), Err(Refusal::Replayed));
        // Unsigned, the wrong secret, another body, another reply queue.
        assert_eq!(
            check(b"{}", &BasicProperties::default(), &g),
            Err(Refusal::Unsigned)
        );
        let wrong = Secret::new("another-secret-of-16");
        let props = signed(&wrong, "db-1", "ab02", "amq.gen-1", b"{}");
        assert_eq!(
            check(b"{}", &props, &g),
            Err(Refusal::BadSignature(auth::Refusal::BadSignature))
        );
        let props = signed(&secret, "db-1", "ab03", "amq.gen-1", b"{}");
        assert_eq!(
            check(b"{\"op\":\"ping\"}", &props, &g),
            Err(Refusal::BadSignature(auth::Refusal::BodyMismatch))
        );
        let props = signed(&secret, "db-1", "ab04", "amq.gen-1", b"{}")
            .with_reply_to(ShortString::from("amq.gen-thief"));
        assert_eq!(
            check(b"{}", &props, &g),
            Err(Refusal::BadSignature(auth::Refusal::BadSignature))
        );
        // Signed for another host's queue: the host header says so first.
        let props = signed(&secret, "db-2", "ab05", "amq.gen-1", b"{}");
        assert_eq!(
            check(b"{}", &props, &g),
            Err(Refusal::OtherHost("db-2".into()))
        );
        // An agent without a secret takes a signed request too.
        let props = signed(&secret, "db-1", "ab06", "amq.gen-1", b"{}");
        assert_eq!(check(b"{}", &props, &gate(None)), Ok(()));
    }

    #[test]
    fn signed_paths_of_different_ids_differ() {
        assert_ne!(
            signed_path("q", "a b", "c", "d"),
            signed_path("q", "a", "b c", "d")
        );
    }
}
