//! RabbitMQ through lapin: the topology every role declares, publishing with
//! confirms, consuming with prefetch and manual acks, dead-lettering, reconnection,
//! and the ops primitives behind `hubsync requeue` and `hubsync status`.
//!
//! Must not: decide what a message means. Payloads are opaque bytes (JSON from
//! hubsync-core's message types) with a message id; parsing, retries of the work
//! itself and the choice between ack and dead-letter belong to the roles.
//!
//! Main types: [`Broker`] (settings, topology, a shared [`Publisher`], [`Consumer`]s,
//! ops), [`Delivery`] (ack or dead-letter, exactly once), [`Error`] (with
//! [`Error::is_retryable`]), and the [`JobQueue`] trait the roles can be generic over.
//!
//! Connections: each publisher and each consumer has its own, reopened with backoff
//! after a loss (the topology is redeclared each time). During an outage a publish
//! retries until `publish_timeout` and then fails with [`Error::Timeout`]; a consumer
//! pauses and resumes, and the broker redelivers what was unacked on the lost channel.
//! The reconnection backoff comes from `backon`, the maintained successor of `backoff`
//! (flagged unmaintained by RUSTSEC-2025-0012).

mod broker;
mod consumer;
mod delivery;
mod error;
mod link;
mod ops;
mod publisher;
mod settings;
mod topology;

pub use broker::{Broker, DeliveryStream, JobQueue};
pub use consumer::Consumer;
pub use delivery::Delivery;
pub use error::{Error, Result};
pub use link::process_label;
pub use ops::{DeadLetter, QueueDepth, RequeueReport};
pub use publisher::{OutgoingMessage, Publisher};
pub use settings::{AmqpUrl, QueueSettings};
pub use topology::{Route, Topology};

/// Re-exported so callers name the shutdown signal without their own dependency.
pub use tokio_util::sync::CancellationToken;
