//! What the token endpoint's refusals mean: a dead refresh token (the portal must be
//! reconnected) against every other refusal, in HubSpot's legacy and RFC 6749 shapes.

use oauth2::RequestTokenError;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// HubSpot's token-endpoint error: the legacy `status`/`message` pair and, since the
/// v3 release, RFC 6749's `error`/`error_description`. Parse `error` first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default, rename = "error_description")]
    pub error_description: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
}

impl std::fmt::Display for OAuthErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = self
            .error
            .as_deref()
            .or(self.status.as_deref())
            .unwrap_or("unknown");
        let message = self
            .error_description
            .as_deref()
            .or(self.message.as_deref())
            .unwrap_or("");
        write!(f, "{code}: {message}")
    }
}
impl oauth2::ErrorResponse for OAuthErrorBody {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenGrantKind {
    AuthorizationCode,
    RefreshToken,
}

/// HubSpot's spellings of "this refresh token is dead" (revoked, unknown, uninstalled).
fn is_dead_refresh_token(body: &OAuthErrorBody) -> bool {
    body.error.as_deref() == Some("invalid_grant")
        || matches!(
            body.status.as_deref(),
            Some("BAD_REFRESH_TOKEN" | "EXPIRED_REFRESH_TOKEN" | "INVALID_REFRESH_TOKEN")
        )
}

pub(crate) fn token_error(
    error: RequestTokenError<Error, OAuthErrorBody>,
    kind: TokenGrantKind,
) -> Error {
    match error {
        RequestTokenError::Request(inner) => inner,
        RequestTokenError::ServerResponse(body)
            if kind == TokenGrantKind::RefreshToken && is_dead_refresh_token(&body) =>
        {
            Error::ReconnectRequired {
                reason: body
                    .status
                    .clone()
                    .or(body.error.clone())
                    .unwrap_or_else(|| "invalid_grant".into()),
                correlation_id: body.correlation_id,
            }
        }
        RequestTokenError::ServerResponse(body) => Error::OAuth {
            code: body.error.clone().or(body.status.clone()),
            message: body.to_string(),
        },
        // A 200 whose body is not a token response is a body cut short or garbled:
        // retryable like any undecodable success. (4xx reach here only when their body
        // is not JSON, and 4xx is never retried, so they are reported as refusals.)
        RequestTokenError::Parse(source, body) if looks_like_token_json(&body) => Error::Decode {
            status: 200,
            message: source.to_string(),
            correlation_id: None,
        },
        RequestTokenError::Parse(_, _) => Error::OAuth {
            code: None,
            message: "unreadable answer from the token endpoint".into(),
        },
        RequestTokenError::Other(message) => Error::OAuth {
            code: None,
            message,
        },
    }
}

/// Whether an unparseable token-endpoint body was on its way to being a token response
/// (truncated), as opposed to a non-JSON error page.
fn looks_like_token_json(body: &[u8]) -> bool {
    body.trim_ascii_start().starts_with(b"{")
        && String::from_utf8_lossy(body).contains("\"access_token\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_refresh_tokens_are_recognised_in_both_spellings() {
        let legacy = OAuthErrorBody {
            status: Some("BAD_REFRESH_TOKEN".into()),
            message: Some("missing or unknown refresh token".into()),
            ..Default::default()
        };
        let v3 = OAuthErrorBody {
            error: Some("invalid_grant".into()),
            ..Default::default()
        };
        let bad_client = OAuthErrorBody {
            error: Some("invalid_client".into()),
            ..Default::default()
        };
        assert!(is_dead_refresh_token(&legacy));
        assert!(is_dead_refresh_token(&v3));
        assert!(!is_dead_refresh_token(&bad_client));
        let error = token_error(
            RequestTokenError::ServerResponse(legacy),
            TokenGrantKind::RefreshToken,
        );
        assert!(
            matches!(&error, Error::ReconnectRequired { reason, .. } if reason == "BAD_REFRESH_TOKEN")
        );
        assert!(!error.is_retryable());
    }
}
