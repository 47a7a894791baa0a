//! How to reach the broker and how to behave on it, loaded by the CLI from config.

use std::{fmt, str::FromStr, time::Duration};

use backon::ExponentialBuilder;
use lapin::uri::{AMQPScheme, AMQPUri};
use serde::Deserialize;

use crate::Error;

/// Broker settings, one section of the CLI's layered config (`[queue]`,
/// `HUBSYNC__QUEUE__URL`, …). Every field but `url` has a default; durations are
/// integers in milliseconds with accessor methods, as elsewhere in hubsync.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    /// `amqp://user:password@host:port/vhost`. A secret (it carries the password):
    /// comes from the environment, and `Debug`/`Display` print it redacted.
    pub url: AmqpUrl,
    /// First part of every exchange and queue name (`{prefix}.chunks`, …), so that
    /// several deployments, or concurrent tests, share one broker without meeting.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Unacknowledged deliveries one consumer may hold. A chunk is long work, so keep
    /// this near the worker's concurrency: a larger value only parks chunks on one pod
    /// while other pods idle (<https://www.rabbitmq.com/docs/consumer-prefetch>).
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
    /// Budget for one `publish`/`publish_batch`, reconnecting and awaiting the
    /// broker's confirms included. Past it the publish fails with `Error::Timeout`.
    #[serde(default = "default_publish_timeout_ms")]
    pub publish_timeout_ms: u64,
    /// Budget for one connection attempt (TCP, AMQP handshake, topology).
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// First delay between reconnection attempts; doubles up to `reconnect_max_ms`.
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    /// Longest delay between reconnection attempts.
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// Declare the work queues as quorum queues (replicated, with a delivery limit)
    /// rather than classic ones. A queue's type cannot change once declared: switching
    /// this on an existing deployment needs a new `prefix` or deleting the queues.
    #[serde(default = "default_quorum_queues")]
    pub quorum_queues: bool,
    /// Quorum queues only: after this many returns of one message (a consumer died or
    /// closed its channel while holding it) the message is dead-lettered instead of
    /// being delivered again. Returns at graceful shutdown count too, so leave room.
    #[serde(default = "default_delivery_limit")]
    pub delivery_limit: u32,
}

fn default_prefix() -> String {
    "hubsync".to_owned()
}
fn default_prefetch() -> u16 {
    4
}
fn default_publish_timeout_ms() -> u64 {
    30_000
}
fn default_connect_timeout_ms() -> u64 {
    10_000
}
fn default_reconnect_min_ms() -> u64 {
    200
}
fn default_reconnect_max_ms() -> u64 {
    10_000
}
fn default_quorum_queues() -> bool {
    true
}
fn default_delivery_limit() -> u32 {
    10
}

impl QueueSettings {
    /// Settings with every default and the given broker URL.
    pub fn new(url: AmqpUrl) -> Self {
        Self {
            url,
            prefix: default_prefix(),
            prefetch: default_prefetch(),
            publish_timeout_ms: default_publish_timeout_ms(),
            connect_timeout_ms: default_connect_timeout_ms(),
            reconnect_min_ms: default_reconnect_min_ms(),
            reconnect_max_ms: default_reconnect_max_ms(),
            quorum_queues: default_quorum_queues(),
            delivery_limit: default_delivery_limit(),
        }
    }

    /// Checks what serde cannot: called by `Broker::new`, so bad settings fail before
    /// anything touches the broker.
    pub fn validate(&self) -> Result<(), Error> {
        let prefix_ok = !self.prefix.is_empty()
            && self.prefix.len() <= 200
            && self
                .prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !prefix_ok {
            return Err(Error::Config(format!(
                "queue prefix {:?} must be 1 to 200 characters of A-Z a-z 0-9 . - _",
                self.prefix
            )));
        }
        // AMQP reads prefetch 0 as "unlimited", which is never what we want.
        if self.prefetch == 0 {
            return Err(Error::Config("queue prefetch must be at least 1".into()));
        }
        if self.publish_timeout_ms == 0 || self.connect_timeout_ms == 0 {
            return Err(Error::Config(
                "queue publish_timeout_ms and connect_timeout_ms must be positive".into(),
            ));
        }
        if self.reconnect_min_ms == 0 || self.reconnect_min_ms > self.reconnect_max_ms {
            return Err(Error::Config(format!(
                "queue reconnect delays must satisfy 0 < reconnect_min_ms ({}) <= reconnect_max_ms ({})",
                self.reconnect_min_ms, self.reconnect_max_ms
            )));
        }
        if self.quorum_queues && self.delivery_limit == 0 {
            return Err(Error::Config(
                "queue delivery_limit must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// See [`QueueSettings::publish_timeout_ms`].
    pub fn publish_timeout(&self) -> Duration {
        Duration::from_millis(self.publish_timeout_ms)
    }

    /// See [`QueueSettings::connect_timeout_ms`].
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// Exponential backoff with full jitter between the reconnect bounds and no limit
    /// on attempts: callers bound the total by a deadline or a cancellation token.
    pub(crate) fn reconnect_backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(self.reconnect_min_ms))
            .with_max_delay(Duration::from_millis(self.reconnect_max_ms))
            .with_jitter()
            .without_max_times()
    }
}

/// An AMQP URL whose password never reaches a log: `Debug` and `Display` print
/// `amqp://user:***@host:port/vhost`. Parsed when loaded, so a malformed URL is a
/// config error at startup rather than at the first connection.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct AmqpUrl {
    parsed: AMQPUri,
    redacted: String,
}

impl AmqpUrl {
    /// Parses `url`; the error message never contains the password.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let redacted = redact(url);
        let parsed = AMQPUri::from_str(url).map_err(|reason| {
            // amq-protocol quotes the whole input in some messages: never echo it.
            let reason = reason.replace(url, "<url>");
            Error::Config(format!("invalid AMQP URL {redacted}: {reason}"))
        })?;
        if parsed.scheme == AMQPScheme::AMQPS {
            return Err(Error::Config(format!(
                "AMQP URL {redacted}: amqps:// needs lapin's TLS feature, which this build leaves out"
            )));
        }
        Ok(Self { parsed, redacted })
    }

    pub(crate) fn uri(&self) -> AMQPUri {
        self.parsed.clone()
    }
}

impl TryFrom<String> for AmqpUrl {
    type Error = Error;

    fn try_from(url: String) -> Result<Self, Error> {
        Self::parse(&url)
    }
}

impl FromStr for AmqpUrl {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self, Error> {
        Self::parse(url)
    }
}

impl fmt::Debug for AmqpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AmqpUrl({})", self.redacted)
    }
}

impl fmt::Display for AmqpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// Replaces the password of `scheme://user:password@host…` with `***`, working on the
/// raw text so that even an unparseable URL can be shown.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        // Not URL-shaped: it might be a bare password pasted in the wrong place.
        return "<unparseable url>".to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..authority_start],
        &userinfo[..colon],
        &url[authority_start + at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_the_password_only() {
        assert_eq!(
            redact("amqp://guest:s3cret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            redact("amqp://u:p@ss@host/vh?heartbeat=5"),
            "amqp://u:***@host/vh?heartbeat=5"
        );
        assert_eq!(redact("amqp://host:5672/%2f"), "amqp://host:5672/%2f");
        assert_eq!(redact("amqp://user@host"), "amqp://user@host");
        assert_eq!(redact("s3cret"), "<unparseable url>");
    }

    #[test]
    fn debug_and_display_never_show_the_password() {
        let url = AmqpUrl::parse("amqp://guest:s3cret@127.0.0.1:5672/%2f").unwrap();
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(!format!("{url}").contains("s3cret"));
        let settings = QueueSettings::new(url);
        assert!(!format!("{settings:?}").contains("s3cret"));
    }

    #[test]
    fn a_bad_url_is_a_config_error_without_the_password() {
        let error = AmqpUrl::parse("amqp://guest:s3cret@127.0.0.1:notaport/").unwrap_err();
        assert!(matches!(error, Error::Config(_)), "{error:?}");
        assert!(!error.to_string().contains("s3cret"), "{error}");
        let error = AmqpUrl::parse("amqps://guest:s3cret@127.0.0.1/").unwrap_err();
        assert!(error.to_string().contains("TLS"), "{error}");
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }

    #[test]
    fn deserializes_with_defaults_and_rejects_unknown_keys() {
        let settings: QueueSettings =
            serde_json::from_str(r#"{"url": "amqp://guest:guest@127.0.0.1:5672/%2f"}"#).unwrap();
        assert_eq!(settings.prefix, "hubsync");
        assert!(settings.quorum_queues);
        settings.validate().unwrap();

        let typo =
            serde_json::from_str::<QueueSettings>(r#"{"url": "amqp://127.0.0.1", "prefech": 3}"#);
        assert!(typo.is_err());
        let bad_url = serde_json::from_str::<QueueSettings>(r#"{"url": "amqp://h:x/"}"#);
        assert!(bad_url.is_err());
    }

    #[test]
    fn validation_rejects_what_serde_accepts() {
        let base = QueueSettings::new(AmqpUrl::parse("amqp://127.0.0.1").unwrap());
        let cases: [fn(&mut QueueSettings); 5] = [
            |s| s.prefix = String::new(),
            |s| s.prefix = "has space".into(),
            |s| s.prefetch = 0,
            |s| s.reconnect_min_ms = s.reconnect_max_ms + 1,
            |s| s.delivery_limit = 0,
        ];
        for break_it in cases {
            let mut settings = base.clone();
            break_it(&mut settings);
            assert!(matches!(settings.validate(), Err(Error::Config(_))));
        }
    }
}
