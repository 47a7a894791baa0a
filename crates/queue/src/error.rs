//! The crate's one error type, classified so callers can branch without reading
//! lapin's error kinds.

use std::time::Duration;

use lapin::{
    ErrorKind,
    protocol::{AMQPErrorKind, AMQPHardError},
};

/// What went wrong talking to the broker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings cannot work (malformed URL, empty prefix, prefetch 0…). Nothing
    /// was sent to the broker.
    #[error("invalid queue settings: {0}")]
    Config(String),

    /// The broker cannot be reached or the connection/channel was lost. Transient:
    /// the operation may be retried once the broker is back. For an ack this means
    /// the ack was lost and the broker will deliver the message again.
    #[error("broker unavailable during {operation}")]
    Unavailable {
        /// What we were doing, e.g. `"connect"`, `"basic.publish"`, `"basic.ack"`.
        operation: &'static str,
        /// lapin's description (I/O error, closed channel, broker shutting down…).
        #[source]
        source: lapin::Error,
    },

    /// The broker refused the operation, and asking again will not change its mind:
    /// bad credentials or vhost, missing permissions, or a queue that exists with
    /// other arguments than ours (`PRECONDITION_FAILED`: see `declare_topology`).
    #[error("broker refused {operation}")]
    Refused {
        /// What we were doing.
        operation: &'static str,
        /// The broker's reply (code and text).
        #[source]
        source: lapin::Error,
    },

    /// A mandatory message matched no queue, so the broker returned it: a queue or
    /// binding was removed under us. Not retried within the call; the publisher's
    /// next publish reconnects and redeclares the topology.
    #[error(
        "message {message_id:?} to {exchange}/{routing_key} was not routed to any queue ({reply_text})"
    )]
    Unroutable {
        /// The message's id.
        message_id: String,
        /// The exchange it was published to.
        exchange: String,
        /// Its routing key.
        routing_key: String,
        /// The broker's reason, normally `NO_ROUTE`.
        reply_text: String,
    },

    /// The broker negatively acknowledged the message: it could not take
    /// responsibility for it (an internal error in the queue). Safe to publish again.
    #[error("broker rejected message {message_id:?} (publisher confirm nack)")]
    Nacked {
        /// The message's id.
        message_id: String,
    },

    /// The operation did not finish within its budget, typically because the broker
    /// stayed unreachable or withheld confirms (resource alarm).
    #[error("{operation} did not complete within {timeout:?} (last error: {last_error})")]
    Timeout {
        /// What we were doing.
        operation: &'static str,
        /// The budget.
        timeout: Duration,
        /// The last failure seen before the budget ran out, or `"none"`.
        last_error: String,
    },
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when trying again later may succeed: the broker was unreachable, a
    /// connection dropped, a publish was nacked or timed out. False for settings,
    /// permissions, topology mismatches and unroutable messages.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Unavailable { .. } | Error::Nacked { .. } | Error::Timeout { .. } => true,
            Error::Config(_) | Error::Refused { .. } | Error::Unroutable { .. } => false,
        }
    }

    /// Sorts a lapin error into `Unavailable` (transient) or `Refused` (permanent).
    pub(crate) fn from_lapin(operation: &'static str, source: lapin::Error) -> Self {
        if lapin_error_is_transient(&source) {
            Error::Unavailable { operation, source }
        } else {
            Error::Refused { operation, source }
        }
    }

    /// Whether this error means our connection or channel is gone, so the next
    /// attempt must open a new one.
    pub(crate) fn broke_the_link(&self) -> bool {
        matches!(self, Error::Unavailable { .. } | Error::Timeout { .. })
    }
}

/// `error: cause: cause…`, for logs: `Display` of our errors leaves the cause to
/// `source()`, and a warning that says only "broker unavailable during connect" would
/// not help anyone.
pub(crate) fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

/// Returns a lapin closure `|e| Error::from_lapin(operation, e)` for `map_err`.
pub(crate) fn amqp(operation: &'static str) -> impl FnOnce(lapin::Error) -> Error {
    move |source| Error::from_lapin(operation, source)
}

fn lapin_error_is_transient(error: &lapin::Error) -> bool {
    match error.kind() {
        ErrorKind::IOError(_)
        | ErrorKind::MissingHeartbeatError
        | ErrorKind::InvalidChannel(_)
        | ErrorKind::InvalidChannelState(..)
        | ErrorKind::InvalidConnectionState(_) => true,
        ErrorKind::ProtocolError(amqp_error) => matches!(
            amqp_error.kind(),
            // The broker is shutting down or an operator closed us (320), or it is
            // out of a resource (506) or hit an internal error (541): all pass.
            AMQPErrorKind::Hard(
                AMQPHardError::CONNECTIONFORCED
                    | AMQPHardError::RESOURCEERROR
                    | AMQPHardError::INTERNALERROR
            )
        ),
        // Parse/serialisation bugs, auth provider failures, exhausted channel ids,
        // a runtime shutting down: retrying cannot fix any of them.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::protocol::{AMQPError, AMQPSoftError};

    fn protocol(kind: AMQPErrorKind) -> lapin::Error {
        ErrorKind::ProtocolError(AMQPError::new(kind, "test".into())).into()
    }

    #[test]
    fn lapin_errors_are_sorted_by_whether_waiting_helps() {
        let io: lapin::Error = std::io::Error::from(std::io::ErrorKind::ConnectionReset).into();
        assert!(Error::from_lapin("op", io).is_retryable());
        let forced = protocol(AMQPErrorKind::Hard(AMQPHardError::CONNECTIONFORCED));
        assert!(Error::from_lapin("op", forced).is_retryable());

        let precondition = protocol(AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED));
        let refused = Error::from_lapin("queue.declare", precondition);
        assert!(matches!(refused, Error::Refused { .. }));
        assert!(!refused.is_retryable());
        let access = protocol(AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED));
        assert!(!Error::from_lapin("connect", access).is_retryable());
        let not_allowed = protocol(AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED));
        assert!(!Error::from_lapin("connect", not_allowed).is_retryable());
    }

    #[test]
    fn causes_are_spelled_out_for_logs() {
        let io: lapin::Error = std::io::Error::other("connection reset").into();
        let error = Error::from_lapin("basic.publish", io);
        assert_eq!(
            with_causes(&error),
            "broker unavailable during basic.publish: IO error: connection reset: connection reset"
        );
    }

    #[test]
    fn classification_of_our_own_variants() {
        assert!(!Error::Config("x".into()).is_retryable());
        assert!(
            Error::Nacked {
                message_id: "m".into()
            }
            .is_retryable()
        );
        assert!(
            !Error::Unroutable {
                message_id: "m".into(),
                exchange: "e".into(),
                routing_key: "k".into(),
                reply_text: "NO_ROUTE".into()
            }
            .is_retryable()
        );
    }
}
