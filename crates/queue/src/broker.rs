//! The entry point the roles hold, and the trait they may be generic over.

use std::{future::Future, sync::Arc};

use tokio_util::sync::CancellationToken;

use crate::{
    Consumer, Delivery, OutgoingMessage, Publisher, QueueSettings, Result, Route, Topology,
    link::Link,
    ops::{self, DeadLetter, QueueDepth, RequeueReport},
};

/// Publish and consume, as the roles need them: the planner publishes chunk jobs,
/// workers consume them and publish outcomes, the committer consumes outcomes.
///
/// Small on purpose, so that an in-process implementation (single-process
/// `hubsync run`) can stand in for RabbitMQ later. Deliveries are the concrete
/// [`Delivery`]; its settle methods are where such an implementation would plug in.
pub trait JobQueue: Send + Sync {
    /// The deliveries of one route.
    type Consumer: DeliveryStream;

    /// Publishes one message; returns once the queue has taken responsibility for it.
    fn publish(
        &self,
        route: Route,
        message_id: &str,
        payload: &[u8],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Publishes many messages; returns once all were taken. On error some may have
    /// been taken: publishing them all again is safe (consumers are idempotent).
    fn publish_batch(
        &self,
        route: Route,
        messages: &[OutgoingMessage],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Subscribes to `route`. Cancelling `shutdown` makes the consumer stop taking
    /// deliveries (see [`Consumer`]).
    fn consume(
        &self,
        route: Route,
        shutdown: CancellationToken,
    ) -> impl Future<Output = Result<Self::Consumer>> + Send;
}

/// A source of deliveries that can be shut down gracefully.
pub trait DeliveryStream: Send {
    /// The next delivery; `None` once shut down.
    fn next(&mut self) -> impl Future<Output = Option<Result<Delivery>>> + Send;

    /// Stops and releases resources; unsettled deliveries go back to the queue.
    fn close(self) -> impl Future<Output = Result<()>> + Send;
}

/// RabbitMQ for hubsync: settings, topology, a shared publisher, consumers and the
/// ops primitives. Cheap to clone (clones share the publisher's connection).
#[derive(Clone, Debug)]
pub struct Broker {
    settings: Arc<QueueSettings>,
    publisher: Publisher,
}

impl Broker {
    /// Validates the settings. No I/O: connections open at first use, or eagerly with
    /// [`Broker::declare_topology`], which every role calls at startup.
    pub fn new(settings: QueueSettings) -> Result<Self> {
        settings.validate()?;
        let settings = Arc::new(settings);
        Ok(Self {
            publisher: Publisher::lazy(Arc::clone(&settings)),
            settings,
        })
    }

    /// The validated settings.
    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    /// The names of the exchanges and queues.
    pub fn topology(&self) -> Topology {
        Topology::new(&self.settings.prefix)
    }

    /// Declares the exchanges, queues and bindings (idempotent; one connection
    /// attempt, no retry). A `Refused` error here usually means the queues exist with
    /// other arguments, e.g. `quorum_queues` was changed.
    pub async fn declare_topology(&self) -> Result<()> {
        let link = Link::open(&self.settings, "topology").await?;
        link.close().await
    }

    /// The shared publisher.
    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// A consumer of `route` on its own connection (see [`Consumer`]).
    pub async fn consumer(&self, route: Route, shutdown: CancellationToken) -> Result<Consumer> {
        Consumer::start(Arc::clone(&self.settings), route, shutdown).await
    }

    /// Ready messages and consumers per queue, for `hubsync status`. Creates nothing.
    pub async fn queue_depths(&self) -> Result<Vec<QueueDepth>> {
        ops::queue_depths(&self.settings).await
    }

    /// Moves dead letters of `route` that `select` accepts back to `route`, for
    /// `hubsync requeue`; see [`RequeueReport`].
    pub async fn requeue_dead(
        &self,
        route: Route,
        select: impl FnMut(&DeadLetter) -> bool,
    ) -> Result<RequeueReport> {
        ops::requeue_dead(&self.settings, &self.publisher, route, select).await
    }

    /// Closes the publisher's connection (consumers close on their own).
    pub async fn close(&self) -> Result<()> {
        self.publisher.close().await
    }
}

impl JobQueue for Broker {
    type Consumer = Consumer;

    fn publish(
        &self,
        route: Route,
        message_id: &str,
        payload: &[u8],
    ) -> impl Future<Output = Result<()>> + Send {
        self.publisher.publish(route, message_id, payload)
    }

    fn publish_batch(
        &self,
        route: Route,
        messages: &[OutgoingMessage],
    ) -> impl Future<Output = Result<()>> + Send {
        self.publisher.publish_batch(route, messages)
    }

    fn consume(
        &self,
        route: Route,
        shutdown: CancellationToken,
    ) -> impl Future<Output = Result<Consumer>> + Send {
        self.consumer(route, shutdown)
    }
}

impl DeliveryStream for Consumer {
    fn next(&mut self) -> impl Future<Output = Option<Result<Delivery>>> + Send {
        Consumer::next(self)
    }

    fn close(self) -> impl Future<Output = Result<()>> + Send {
        Consumer::close(self)
    }
}
