//! Exchanges, queues and bindings, declared the same way by every role at startup.
//!
//! ```text
//!  {prefix}.jobs (direct) ──"chunks"───► {prefix}.chunks ───dead-letter──┐
//!                         ──"outcomes"─► {prefix}.outcomes ─dead-letter─┐ │
//!  {prefix}.dlx  (direct) ◄─────────────────────────────────────────────┴─┘
//!        ├─"chunks"───► {prefix}.chunks.dead
//!        └─"outcomes"─► {prefix}.outcomes.dead
//! ```
//!
//! Declaring is idempotent only while the arguments stay the same: RabbitMQ answers a
//! redeclaration with different arguments by closing the channel with
//! `PRECONDITION_FAILED` (<https://www.rabbitmq.com/docs/queues#property-equivalence>).
//! So the arguments below are a contract with every running deployment: change them
//! only together with a new prefix or a migration of the queues.

use std::fmt;

use lapin::{
    Channel, ExchangeKind,
    options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable, LongString},
};

use crate::{QueueSettings, Result, error::amqp};

/// Where a message goes. Each route has one work queue and one dead-letter queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// Chunk jobs, from the planner (and `requeue`) to the workers.
    Chunks,
    /// Chunk outcomes, from the workers to the committer.
    Outcomes,
}

impl Route {
    /// Every route, for loops over the topology.
    pub const ALL: [Route; 2] = [Route::Chunks, Route::Outcomes];

    /// The routing key on both exchanges, also the last part of the queue name.
    pub fn routing_key(self) -> &'static str {
        match self {
            Route::Chunks => "chunks",
            Route::Outcomes => "outcomes",
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.routing_key())
    }
}

/// The names of everything we declare, derived from the prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
}

impl Topology {
    /// Names for `prefix` (validated by [`QueueSettings::validate`]).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// `{prefix}.jobs`: every publish goes here.
    pub fn exchange(&self) -> String {
        format!("{}.jobs", self.prefix)
    }

    /// `{prefix}.dlx`: where the work queues dead-letter to.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.prefix)
    }

    /// `{prefix}.chunks` or `{prefix}.outcomes`.
    pub fn queue(&self, route: Route) -> String {
        format!("{}.{}", self.prefix, route.routing_key())
    }

    /// `{prefix}.chunks.dead` or `{prefix}.outcomes.dead`.
    pub fn dead_queue(&self, route: Route) -> String {
        format!("{}.{}.dead", self.prefix, route.routing_key())
    }

    /// Every queue name, work queues first.
    pub fn all_queues(&self) -> Vec<String> {
        Route::ALL
            .iter()
            .map(|route| self.queue(*route))
            .chain(Route::ALL.iter().map(|route| self.dead_queue(*route)))
            .collect()
    }
}

/// Declares the whole topology on `channel`. Safe to call from every process at every
/// start, concurrently: declarations of existing objects with equal arguments are
/// no-ops for the broker.
pub(crate) async fn declare(channel: &Channel, settings: &QueueSettings) -> Result<()> {
    let names = Topology::new(&settings.prefix);
    // Durable exchanges survive a broker restart, as the durable queues bound to them
    // do; direct because every route is an exact routing key
    // (https://www.rabbitmq.com/tutorials/amqp-concepts#exchange-direct).
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    for exchange in [names.exchange(), names.dead_letter_exchange()] {
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Direct,
                durable_exchange,
                FieldTable::default(),
            )
            .await
            .map_err(amqp("exchange.declare"))?;
    }

    for route in Route::ALL {
        let dead_queue = names.dead_queue(route);
        declare_queue(channel, &dead_queue, dead_queue_arguments(settings)).await?;
        bind(channel, &dead_queue, &names.dead_letter_exchange(), route).await?;

        let queue = names.queue(route);
        declare_queue(channel, &queue, work_queue_arguments(settings, route)).await?;
        bind(channel, &queue, &names.exchange(), route).await?;
    }
    Ok(())
}

async fn declare_queue(channel: &Channel, name: &str, arguments: FieldTable) -> Result<()> {
    // Durable, because Postgres may say a chunk is pending only while its job waits
    // here, across broker restarts (messages are published persistent, too). Not
    // exclusive and not auto-delete: many processes consume, and the queue must
    // outlive all of them (https://www.rabbitmq.com/docs/queues#properties).
    channel
        .queue_declare(name.into(), QueueDeclareOptions::durable(), arguments)
        .await
        .map_err(amqp("queue.declare"))?;
    Ok(())
}

async fn bind(channel: &Channel, queue: &str, exchange: &str, route: Route) -> Result<()> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            route.routing_key().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(amqp("queue.bind"))
}

fn work_queue_arguments(settings: &QueueSettings, route: Route) -> FieldTable {
    let names = Topology::new(&settings.prefix);
    let mut arguments = queue_type_argument(settings);
    // A message the worker gives up on (nack without requeue), or one over the
    // delivery limit, goes to the dead-letter exchange instead of vanishing, so a
    // failed chunk can be inspected and requeued by ops
    // (https://www.rabbitmq.com/docs/dlx).
    arguments.insert(
        "x-dead-letter-exchange".into(),
        long_string(&names.dead_letter_exchange()),
    );
    // Explicit, rather than the message's own routing key, so that a message that
    // reached the queue any other way (e.g. the default exchange, by queue name) still
    // lands in the right dead-letter queue.
    arguments.insert(
        "x-dead-letter-routing-key".into(),
        long_string(route.routing_key()),
    );
    if settings.quorum_queues {
        // A message that kills its consumer (panic, OOM, a pod killed mid-chunk) is
        // returned to the queue each time; without a limit it would crash worker after
        // worker forever. Past the limit the broker dead-letters it (reason
        // `delivery_limit`) (https://www.rabbitmq.com/docs/quorum-queues#poison-message-handling).
        // Classic queues have no such limit: there a poison message loops until
        // someone purges it, which is why quorum queues are the default.
        let limit = i32::try_from(settings.delivery_limit).unwrap_or(i32::MAX);
        arguments.insert("x-delivery-limit".into(), AMQPValue::LongInt(limit));
        // By default quorum queues dead-letter at most once: the message is dropped
        // from the source before the dead-letter queue confirms it, so a failure in
        // between loses it. At-least-once keeps it until confirmed; it requires
        // `reject-publish` overflow (which only matters with a length limit, and we set
        // none) (https://www.rabbitmq.com/docs/quorum-queues#dead-lettering).
        arguments.insert(
            "x-dead-letter-strategy".into(),
            long_string("at-least-once"),
        );
        arguments.insert("x-overflow".into(), long_string("reject-publish"));
    }
    arguments
}

fn dead_queue_arguments(settings: &QueueSettings) -> FieldTable {
    // No dead-lettering and no delivery limit: this is the end of the line, kept until
    // an operator requeues or purges it.
    queue_type_argument(settings)
}

fn queue_type_argument(settings: &QueueSettings) -> FieldTable {
    let mut arguments = FieldTable::default();
    // Quorum queues replicate each message to a majority of nodes (Raft) and support
    // poison-message handling; classic queues are for a broker that cannot run them
    // (https://www.rabbitmq.com/docs/quorum-queues). The type is always stated, even
    // "classic", so that two declarations can never disagree by omission.
    let queue_type = if settings.quorum_queues {
        "quorum"
    } else {
        "classic"
    };
    arguments.insert("x-queue-type".into(), long_string(queue_type));
    arguments
}

fn long_string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AmqpUrl;

    fn settings(quorum: bool) -> QueueSettings {
        let mut settings = QueueSettings::new(AmqpUrl::parse("amqp://127.0.0.1").unwrap());
        settings.prefix = "t".into();
        settings.quorum_queues = quorum;
        settings
    }

    #[test]
    fn names_follow_the_prefix() {
        let names = Topology::new("p");
        assert_eq!(names.exchange(), "p.jobs");
        assert_eq!(names.dead_letter_exchange(), "p.dlx");
        assert_eq!(names.queue(Route::Chunks), "p.chunks");
        assert_eq!(names.dead_queue(Route::Outcomes), "p.outcomes.dead");
        assert_eq!(names.all_queues().len(), 4);
    }

    #[test]
    fn work_queues_dead_letter_by_route() {
        let arguments = work_queue_arguments(&settings(false), Route::Outcomes);
        let inner = arguments.inner();
        assert_eq!(
            inner.get("x-dead-letter-exchange"),
            Some(&long_string("t.dlx"))
        );
        assert_eq!(
            inner.get("x-dead-letter-routing-key"),
            Some(&long_string("outcomes"))
        );
        assert_eq!(inner.get("x-queue-type"), Some(&long_string("classic")));
        assert!(!inner.contains_key("x-delivery-limit"));

        let quorum = work_queue_arguments(&settings(true), Route::Chunks);
        assert_eq!(
            quorum.inner().get("x-delivery-limit"),
            Some(&AMQPValue::LongInt(10))
        );
        assert_eq!(
            quorum.inner().get("x-queue-type"),
            Some(&long_string("quorum"))
        );
    }
}
