//! The one error type of this crate, and how an HTTP failure becomes one.
//!
//! Callers branch on the variants (a worker retries later on `RateLimited`, marks the
//! connection on `ReconnectRequired`, skips a table on `MissingScopes`); the retry loop
//! branches on [`Error::is_retryable`] and [`Error::retry_after`]. No variant ever holds
//! a token or a secret: tokens travel in headers and form bodies, never in messages, and
//! URLs are stripped from transport errors because the legacy introspection path
//! carries the access token.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Deserialize;

/// The header HubSpot tags every response with; quote it when asking HubSpot for help.
pub const CORRELATION_ID_HEADER: &str = "x-hubspot-correlation-id";

/// A rate-limit policy named in a 429 body (`policyName`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimitPolicy {
    /// The per-app rolling 10-second window (110 requests for OAuth apps).
    TenSecondlyRolling,
    /// The per-second limit of the search endpoints.
    Secondly,
    /// The daily limit (private apps); only resets at the account's midnight.
    Daily,
    /// A policy this client does not know; treated like the rolling window.
    Other(String),
}

impl RateLimitPolicy {
    pub fn from_policy_name(name: &str) -> Self {
        match name {
            "TEN_SECONDLY_ROLLING" => Self::TenSecondlyRolling,
            "SECONDLY" => Self::Secondly,
            "DAILY" => Self::Daily,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for RateLimitPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TenSecondlyRolling => f.write_str("TEN_SECONDLY_ROLLING"),
            Self::Secondly => f.write_str("SECONDLY"),
            Self::Daily => f.write_str("DAILY"),
            Self::Other(name) => f.write_str(name),
        }
    }
}

/// Everything that can go wrong talking to HubSpot.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A 429 from the rolling window or the search bucket. Retryable; every task of the
    /// portal slows down because the governor saw it too.
    #[error("hubspot rate limit reached ({policy})")]
    RateLimited {
        policy: RateLimitPolicy,
        retry_after: Option<Duration>,
        correlation_id: Option<String>,
    },
    /// The daily request limit is spent. Not retryable in process: the budget returns
    /// at the account's midnight; `retry_after` is HubSpot's hint when it gave one.
    #[error("hubspot daily request limit reached")]
    DailyLimit {
        retry_after: Option<Duration>,
        correlation_id: Option<String>,
    },
    /// HubSpot refused the access token even after a refresh (`category` is HubSpot's,
    /// e.g. `INVALID_AUTHENTICATION`).
    #[error("hubspot rejected the access token ({category})")]
    Unauthorized {
        category: String,
        correlation_id: Option<String>,
    },
    /// The refresh token is revoked, unknown or the app was uninstalled: the portal
    /// must be connected again through the install flow. Never retried.
    #[error("the portal must be reconnected: hubspot refused the refresh token ({reason})")]
    ReconnectRequired {
        reason: String,
        correlation_id: Option<String>,
    },
    /// The app was not granted a scope this call needs (403 `MISSING_SCOPES`).
    /// HubSpot's list of scopes is a hint and is sometimes wrong.
    #[error("the app lacks the scopes this call needs: {required:?}")]
    MissingScopes {
        required: Vec<String>,
        correlation_id: Option<String>,
    },
    /// Another 403: a feature or tier the portal lacks.
    #[error("hubspot refused access: {message}")]
    Forbidden {
        message: String,
        correlation_id: Option<String>,
    },
    #[error("not found: {message}")]
    NotFound {
        message: String,
        correlation_id: Option<String>,
    },
    /// A request HubSpot will never accept as sent (400 and other 4xx): a bug or a
    /// property that vanished. `category` is HubSpot's, e.g. `VALIDATION_ERROR`.
    #[error("hubspot rejected the request (http {status}): {message}")]
    BadRequest {
        status: u16,
        category: Option<String>,
        message: String,
        correlation_id: Option<String>,
    },
    /// 414: the URL was too long, or a single property name cannot fit the configured
    /// maximum URL length.
    #[error("url of {length} characters is too long for hubspot")]
    UriTooLong {
        length: usize,
        correlation_id: Option<String>,
    },
    /// 5xx, 423 (locked) or 477 (portal migrating): HubSpot cannot answer now.
    #[error("hubspot is unavailable (http {status})")]
    Server {
        status: u16,
        retry_after: Option<Duration>,
        correlation_id: Option<String>,
    },
    /// The request did not finish within the configured timeout.
    #[error("request to hubspot timed out")]
    Timeout,
    /// The connection failed or broke (refused, reset, a body cut short).
    #[error("transport error talking to hubspot")]
    Transport(#[source] reqwest::Error),
    /// A successful status with a body that is not what HubSpot sends (truncated JSON
    /// is the usual cause).
    #[error("undecodable response from hubspot (http {status}): {message}")]
    Decode {
        status: u16,
        message: String,
        correlation_id: Option<String>,
    },
    /// The OAuth server refused a request for a reason other than a dead refresh token
    /// (bad auth code, client id, secret or redirect URI). `code` is HubSpot's
    /// `error` or `status` field.
    #[error("oauth request refused: {message}")]
    OAuth {
        code: Option<String>,
        message: String,
    },
    /// HubSpot answered something this client cannot follow safely (a paging cursor
    /// that does not advance). Not retried: the same request gets the same answer.
    #[error("hubspot answer cannot be followed: {0}")]
    Protocol(String),
    /// The caller asked for something this client does not do (a bug upstream).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The connection's stored credentials could not be loaded (the store is down, the
    /// encryption key is wrong, the connection was removed). `retryable` says whether
    /// asking again later may help.
    #[error("cannot load the connection's credentials: {message}")]
    Credentials { message: String, retryable: bool },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A 423 comes without a hint; HubSpot's guidance is to wait at least two seconds.
const LOCKED_MIN_WAIT: Duration = Duration::from_secs(2);

impl Error {
    /// Whether the same request may succeed if sent again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. }
            | Self::Server { .. }
            | Self::Timeout
            | Self::Transport(_)
            | Self::Decode { .. } => true,
            Self::Credentials { retryable, .. } => *retryable,
            Self::DailyLimit { .. }
            | Self::Unauthorized { .. }
            | Self::ReconnectRequired { .. }
            | Self::MissingScopes { .. }
            | Self::Forbidden { .. }
            | Self::NotFound { .. }
            | Self::BadRequest { .. }
            | Self::UriTooLong { .. }
            | Self::OAuth { .. }
            | Self::Protocol(_)
            | Self::InvalidRequest(_)
            | Self::Config(_) => false,
        }
    }

    /// How long HubSpot asked us to wait, when it said so. Overrides computed backoff.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::DailyLimit { retry_after, .. } => {
                *retry_after
            }
            Self::Server {
                status: 423,
                retry_after,
                ..
            } => Some(retry_after.unwrap_or(LOCKED_MIN_WAIT).max(LOCKED_MIN_WAIT)),
            Self::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// HubSpot's correlation id of the failed response, when there was a response.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            Self::RateLimited { correlation_id, .. }
            | Self::DailyLimit { correlation_id, .. }
            | Self::Unauthorized { correlation_id, .. }
            | Self::ReconnectRequired { correlation_id, .. }
            | Self::MissingScopes { correlation_id, .. }
            | Self::Forbidden { correlation_id, .. }
            | Self::NotFound { correlation_id, .. }
            | Self::BadRequest { correlation_id, .. }
            | Self::UriTooLong { correlation_id, .. }
            | Self::Server { correlation_id, .. }
            | Self::Decode { correlation_id, .. } => correlation_id.as_deref(),
            _ => None,
        }
    }

    /// A bounded label for logs and metrics (never a message).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::DailyLimit { .. } => "daily_limit",
            Self::Unauthorized { .. } => "unauthorized",
            Self::ReconnectRequired { .. } => "reconnect_required",
            Self::MissingScopes { .. } => "missing_scopes",
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound { .. } => "not_found",
            Self::BadRequest { .. } => "bad_request",
            Self::UriTooLong { .. } => "uri_too_long",
            Self::Server { .. } => "server",
            Self::Timeout => "timeout",
            Self::Transport(_) => "transport",
            Self::Decode { .. } => "decode",
            Self::OAuth { .. } => "oauth",
            Self::Protocol(_) => "protocol",
            Self::InvalidRequest(_) => "invalid_request",
            Self::Config(_) => "config",
            Self::Credentials { .. } => "credentials",
        }
    }

    /// Maps a reqwest failure; the URL is dropped because it may carry a token.
    pub(crate) fn from_reqwest(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else if error.is_builder() {
            Self::Config(error.without_url().to_string())
        } else {
            Self::Transport(error.without_url())
        }
    }

    /// Whether this is a 401/530 whose cure may be a fresh access token.
    pub(crate) fn is_token_rejection(&self) -> bool {
        matches!(self, Self::Unauthorized { .. })
    }
}

/// HubSpot's error body (all fields optional; the 429 bodies use `errorType` and
/// `policyName` instead of `category`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    policy_name: Option<String>,
    #[serde(default)]
    errors: Vec<ErrorDetail>,
    #[serde(default)]
    context: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    context: BTreeMap<String, serde_json::Value>,
}

/// Reads `Retry-After` in seconds (HubSpot sends integers; decimals are tolerated).
/// The HTTP-date form is not used by HubSpot and is ignored, and so is a value no
/// `Duration` can hold (negative, NaN, absurdly large): a header must not panic us.
pub(crate) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let seconds: f64 = raw.parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

pub(crate) fn correlation_id_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CORRELATION_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Whether a status says "not now" rather than "no": 429, 408, 423 (locked), 477
/// (portal migrating) and 5xx. The same request may succeed later.
pub(crate) fn is_transient_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 423 | 429 | 477) || status.is_server_error()
}

/// Turns a non-2xx API response into an error, by status first: 5xx bodies may be
/// HTML or empty, so the body is only read for the details it may add.
pub(crate) fn classify_failure(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    url_length: usize,
) -> Error {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let correlation_id = correlation_id_from(headers).or(parsed.correlation_id.clone());
    let retry_after = parse_retry_after(headers);
    let message = parsed
        .message
        .clone()
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
    match status.as_u16() {
        429 => {
            let policy = parsed
                .policy_name
                .as_deref()
                .map(RateLimitPolicy::from_policy_name)
                .unwrap_or(RateLimitPolicy::TenSecondlyRolling);
            if policy == RateLimitPolicy::Daily {
                Error::DailyLimit {
                    retry_after,
                    correlation_id,
                }
            } else {
                Error::RateLimited {
                    policy,
                    retry_after,
                    correlation_id,
                }
            }
        }
        // 530 is Cloudflare's answer to a token of impossible shape (API.md §18.24).
        401 | 530 => Error::Unauthorized {
            category: parsed
                .category
                .unwrap_or_else(|| format!("HTTP_{}", status.as_u16())),
            correlation_id,
        },
        403 => {
            let required = required_scopes(&parsed);
            if parsed.category.as_deref() == Some("MISSING_SCOPES") || !required.is_empty() {
                Error::MissingScopes {
                    required,
                    correlation_id,
                }
            } else {
                Error::Forbidden {
                    message,
                    correlation_id,
                }
            }
        }
        404 => Error::NotFound {
            message,
            correlation_id,
        },
        414 => Error::UriTooLong {
            length: url_length,
            correlation_id,
        },
        // 429 and 530 are taken above.
        _ if is_transient_status(status) => Error::Server {
            status: status.as_u16(),
            retry_after,
            correlation_id,
        },
        other => Error::BadRequest {
            status: other,
            category: parsed.category,
            message,
            correlation_id,
        },
    }
}

/// The scopes a 403 names, wherever this generation of HubSpot put them.
fn required_scopes(body: &ErrorBody) -> Vec<String> {
    const KEYS: [&str; 3] = ["requiredGranularScopes", "requiredScopes", "missingScopes"];
    let contexts = std::iter::once(&body.context).chain(body.errors.iter().map(|e| &e.context));
    let mut scopes = Vec::new();
    for context in contexts {
        for key in KEYS {
            if let Some(serde_json::Value::Array(values)) = context.get(key) {
                for value in values.iter().filter_map(|v| v.as_str()) {
                    if !scopes.iter().any(|s| s == value) {
                        scopes.push(value.to_owned());
                    }
                }
            }
        }
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn html_server_error_is_retryable_without_parsing() {
        let error = classify_failure(
            StatusCode::BAD_GATEWAY,
            &headers(&[(CORRELATION_ID_HEADER, "c-1")]),
            b"<html><body>Bad gateway</body></html>",
            10,
        );
        assert!(matches!(error, Error::Server { status: 502, .. }));
        assert!(error.is_retryable());
        assert_eq!(error.correlation_id(), Some("c-1"));
    }

    #[test]
    fn rate_limit_policies_are_told_apart() {
        let body = br#"{"status":"error","policyName":"SECONDLY","errorType":"RATE_LIMIT","correlationId":"x"}"#;
        let error = classify_failure(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body, 1);
        assert!(matches!(
            error,
            Error::RateLimited {
                policy: RateLimitPolicy::Secondly,
                retry_after: None,
                ..
            }
        ));
        assert_eq!(error.correlation_id(), Some("x"));

        let daily = classify_failure(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "3600")]),
            br#"{"policyName":"DAILY"}"#,
            1,
        );
        assert!(matches!(daily, Error::DailyLimit { .. }));
        assert!(!daily.is_retryable());
        assert_eq!(daily.retry_after(), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn missing_scopes_are_read_from_either_place() {
        let newer = br#"{"category":"MISSING_SCOPES","errors":[{"context":{"requiredGranularScopes":["crm.objects.deals.read"]}}]}"#;
        let error = classify_failure(StatusCode::FORBIDDEN, &HeaderMap::new(), newer, 1);
        assert!(
            matches!(&error, Error::MissingScopes { required, .. } if required == &["crm.objects.deals.read"])
        );
        let older = br#"{"context":{"requiredScopes":["contacts"]}}"#;
        let error = classify_failure(StatusCode::FORBIDDEN, &HeaderMap::new(), older, 1);
        assert!(
            matches!(&error, Error::MissingScopes { required, .. } if required == &["contacts"])
        );
        assert!(!error.is_retryable());
    }

    #[test]
    fn permanent_statuses_are_not_retryable() {
        for status in [400, 403, 404, 405, 409, 414] {
            let error = classify_failure(
                StatusCode::from_u16(status).unwrap(),
                &HeaderMap::new(),
                b"",
                1,
            );
            assert!(!error.is_retryable(), "{status} must not be retried");
        }
        for status in [423, 477, 500, 502, 503, 504, 521, 524] {
            let error = classify_failure(
                StatusCode::from_u16(status).unwrap(),
                &HeaderMap::new(),
                b"",
                1,
            );
            assert!(error.is_retryable(), "{status} must be retried");
        }
    }

    #[test]
    fn retry_after_values_no_duration_holds_are_ignored() {
        let hint = |value: &str| parse_retry_after(&headers(&[("retry-after", value)]));
        assert_eq!(hint("7"), Some(Duration::from_secs(7)));
        assert_eq!(hint(" 0.5 "), Some(Duration::from_millis(500)));
        for junk in [
            "1e300",
            "-1",
            "NaN",
            "inf",
            "soon",
            "Wed, 21 Oct 2015 07:28:00 GMT",
        ] {
            assert_eq!(hint(junk), None, "{junk}");
        }
        // Large but representable: kept here, bounded where it is used.
        assert!(hint("10000000000000000000").is_some());
    }

    #[test]
    fn locked_waits_at_least_two_seconds_and_477_honours_its_hint() {
        let locked = classify_failure(StatusCode::LOCKED, &HeaderMap::new(), b"", 1);
        assert_eq!(locked.retry_after(), Some(Duration::from_secs(2)));
        let migrating = classify_failure(
            StatusCode::from_u16(477).unwrap(),
            &headers(&[("retry-after", "7")]),
            b"",
            1,
        );
        assert_eq!(migrating.retry_after(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn unauthorized_keeps_hubspot_category() {
        let body = br#"{"status":"error","message":"The OAuth token used to make this call expired 0 second(s) ago.","category":"EXPIRED_AUTHENTICATION"}"#;
        let error = classify_failure(StatusCode::UNAUTHORIZED, &HeaderMap::new(), body, 1);
        assert!(
            matches!(&error, Error::Unauthorized { category, .. } if category == "EXPIRED_AUTHENTICATION")
        );
        assert!(error.is_token_rejection());
    }
}
