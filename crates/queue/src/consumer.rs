//! Consuming one route's queue with manual acks, prefetch, reconnection and graceful
//! cancellation.

use std::{sync::Arc, time::Duration};

use backon::Retryable;
use futures_util::StreamExt;
use lapin::{
    options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions},
    types::FieldTable,
};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::{
    Delivery, QueueSettings, Result, Route, Topology,
    delivery::release,
    error::{amqp, with_causes},
    link::{Link, process_label},
};

/// Deliveries from one route's queue, on a connection of its own.
///
/// What callers see:
/// - [`Consumer::next`] yields deliveries; at most `prefetch` of them are unsettled at
///   any time (the broker holds the rest back).
/// - When the connection drops (broker restart, network), `next` does not return an
///   error: it logs a warning and pauses while it reconnects with backoff, redeclares
///   the topology and subscribes again, then resumes. Deliveries handed out before
///   the drop can no longer be settled (`ack` fails with `Error::Unavailable`); the
///   broker redelivers them, flagged `redelivered`.
/// - When the shutdown token is cancelled, `next` stops taking deliveries and returns
///   `None`: the subscription is cancelled at the broker, and deliveries already
///   prefetched but not yet handed out are returned to the queue. Deliveries handed
///   out before can still be acked. Then call [`Consumer::close`].
/// - `next` returns `Some(Err(_))` only for a permanent failure while reconnecting
///   (credentials, permissions, a topology mismatch); the consumer is finished then.
pub struct Consumer {
    settings: Arc<QueueSettings>,
    route: Route,
    tag: String,
    shutdown: CancellationToken,
    state: State,
}

enum State {
    Consuming {
        link: Link,
        deliveries: lapin::Consumer,
    },
    /// Lost the connection; `next` reconnects.
    Disconnected,
    /// Cancelled: no more deliveries. The link stays open so that deliveries already
    /// handed out can still be settled, until `close`.
    Stopped { link: Option<Link> },
    /// A permanent error was returned; nothing more will come.
    Failed,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Consuming { .. } => "consuming",
            State::Disconnected => "disconnected",
            State::Stopped { .. } => "stopped",
            State::Failed => "failed",
        };
        f.debug_struct("Consumer")
            .field("route", &self.route)
            .field("tag", &self.tag)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// Connects once (no retry: a broker that is down or refuses us is reported to
    /// the caller at startup), declares the topology and subscribes to `route`'s queue.
    pub async fn start(
        settings: Arc<QueueSettings>,
        route: Route,
        shutdown: CancellationToken,
    ) -> Result<Self> {
        settings.validate()?;
        // Unique per process and consumer, so the broker's consumer list (and its
        // logs) tell which pod holds which deliveries.
        let tag = format!(
            "{}.{}.{}.{}",
            settings.prefix,
            route,
            process_label(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let (link, deliveries) = subscribe(&settings, route, &tag).await?;
        Ok(Self {
            settings,
            route,
            tag,
            shutdown,
            state: State::Consuming { link, deliveries },
        })
    }

    /// The next delivery; `None` after shutdown. See the type's documentation for
    /// what happens during an outage. Cancel-safe: dropping the future (e.g. in a
    /// `select!`) loses no delivery.
    pub async fn next(&mut self) -> Option<Result<Delivery>> {
        loop {
            if self.shutdown.is_cancelled() {
                self.stop().await;
                return None;
            }
            match &mut self.state {
                State::Stopped { .. } | State::Failed => return None,
                State::Disconnected => match self.reconnect().await {
                    Ok(Some(state)) => {
                        info!(route = %self.route, tag = %self.tag, "consumer reconnected");
                        self.state = state;
                    }
                    // Cancelled while waiting: the loop head stops us.
                    Ok(None) => {}
                    Err(error) => {
                        self.state = State::Failed;
                        return Some(Err(error));
                    }
                },
                State::Consuming { deliveries, .. } => {
                    // Biased: once cancelled, a delivery already buffered is not
                    // handed out.
                    let item = tokio::select! {
                        biased;
                        () = self.shutdown.cancelled() => continue,
                        item = deliveries.next() => item,
                    };
                    match item {
                        Some(Ok(delivery)) => {
                            return Some(Ok(Delivery::from_lapin(self.route, delivery)));
                        }
                        Some(Err(error)) => {
                            warn!(%error, route = %self.route, "consumer lost its connection; reconnecting");
                            self.state = State::Disconnected;
                        }
                        None => {
                            // The broker cancelled us (the queue was deleted, or a
                            // node went down): subscribe again, redeclaring the queue.
                            warn!(route = %self.route, "broker cancelled the consumer; resubscribing");
                            self.state = State::Disconnected;
                        }
                    }
                }
            }
        }
    }

    /// Stops consuming (as a cancelled shutdown token would) and closes the channel
    /// and connection. Deliveries not settled by then go back to the queue.
    pub async fn close(mut self) -> Result<()> {
        self.stop().await;
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Stopped { link: Some(link) } => link.close().await,
            _ => Ok(()),
        }
    }

    /// Cancels the subscription and returns prefetched, not handed out, deliveries.
    ///
    /// The state changes only at the end, so that if the caller drops `next()` midway
    /// the link survives and the next call finishes the job.
    async fn stop(&mut self) {
        if let State::Consuming { link, deliveries } = &mut self.state {
            // After cancel-ok the broker sends nothing more to this consumer, and
            // lapin ends the stream after the deliveries it had buffered
            // (https://www.rabbitmq.com/amqp-0-9-1-reference#basic.cancel).
            let cancelled = link
                .channel
                .basic_cancel(self.tag.as_str().into(), BasicCancelOptions::default())
                .await;
            match cancelled {
                Ok(()) => {
                    let drain = async {
                        let mut returned = 0_usize;
                        while let Some(Ok(delivery)) = deliveries.next().await {
                            let message_id = delivery
                                .properties
                                .message_id()
                                .as_ref()
                                .map(|id| id.to_string());
                            release(delivery.acker, message_id).await;
                            returned += 1;
                        }
                        returned
                    };
                    match tokio::time::timeout(self.settings.connect_timeout(), drain).await {
                        Ok(returned) => debug!(returned, tag = %self.tag, "consumer cancelled"),
                        Err(_) => {
                            warn!(tag = %self.tag, "timed out returning prefetched deliveries")
                        }
                    }
                }
                Err(error) => {
                    debug!(%error, tag = %self.tag, "cancel failed; the channel is gone")
                }
            }
        }
        self.state = match std::mem::replace(&mut self.state, State::Failed) {
            State::Consuming { link, .. } => State::Stopped { link: Some(link) },
            State::Stopped { link } => State::Stopped { link },
            State::Disconnected | State::Failed => State::Stopped { link: None },
        };
    }

    /// Reconnects with backoff until subscribed again, a permanent error, or
    /// cancellation (`Ok(None)`).
    async fn reconnect(&self) -> Result<Option<State>> {
        let settings = &self.settings;
        let (route, tag) = (self.route, self.tag.as_str());
        let attempts = (|| subscribe(settings, route, tag))
            .retry(settings.reconnect_backoff())
            .sleep(tokio::time::sleep)
            .when(crate::Error::is_retryable)
            .notify(|error, delay: Duration| {
                warn!(error = with_causes(error), %route, retry_in_ms = delay.as_millis() as u64, "consumer reconnect failed, retrying");
            });
        tokio::select! {
            () = self.shutdown.cancelled() => Ok(None),
            subscribed = attempts => {
                let (link, deliveries) = subscribed?;
                Ok(Some(State::Consuming { link, deliveries }))
            }
        }
    }
}

/// One attempt: connect, declare, set prefetch, subscribe.
async fn subscribe(
    settings: &QueueSettings,
    route: Route,
    tag: &str,
) -> Result<(Link, lapin::Consumer)> {
    let link = Link::open(settings, "consumer").await?;
    // Per-consumer prefetch (global = false): the only kind quorum queues support
    // (https://www.rabbitmq.com/docs/consumer-prefetch). Set before subscribing, or
    // the broker would push without limit in the meantime.
    link.channel
        .basic_qos(settings.prefetch, BasicQosOptions { global: false })
        .await
        .map_err(amqp("basic.qos"))?;
    let queue = Topology::new(&settings.prefix).queue(route);
    let deliveries = link
        .channel
        .basic_consume(
            queue.into(),
            tag.into(),
            // Manual acks (no_ack = false): a message leaves the queue only when the
            // worker has committed its effects; not exclusive, so every pod consumes
            // (https://www.rabbitmq.com/docs/confirms#acknowledgement-modes).
            BasicConsumeOptions {
                no_local: false,
                no_ack: false,
                exclusive: false,
                nowait: false,
            },
            FieldTable::default(),
        )
        .await
        .map_err(amqp("basic.consume"))?;
    Ok((link, deliveries))
}
