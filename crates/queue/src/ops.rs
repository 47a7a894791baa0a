//! What `hubsync requeue` and `hubsync status` need from the broker.

use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use tracing::{info, warn};

use crate::{
    Error, OutgoingMessage, Publisher, QueueSettings, Result, Route, Topology,
    delivery::{death_count, last_death_reason},
    error::amqp,
    link::Link,
};

/// A queue's size as the broker reports it to a passive declare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueDepth {
    /// The queue's full name, e.g. `hubsync.chunks.dead`.
    pub queue: String,
    /// Messages ready for delivery. Delivered but unacknowledged messages are not
    /// counted (the broker does not report them here).
    pub ready: u32,
    /// Subscribed consumers.
    pub consumers: u32,
}

/// A message read from a dead-letter queue, shown to the `requeue` filter.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// The publisher's message id (the chunk id for chunk jobs).
    pub message_id: Option<String>,
    /// The body as published.
    pub payload: Vec<u8>,
    /// Times dead-lettered so far (see `Delivery::death_count`).
    pub death_count: u64,
    /// Why it died last: `rejected` (a worker gave up), `delivery_limit` (it kept
    /// crashing consumers), `expired`…
    pub reason: Option<String>,
}

/// What `requeue_dead` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequeueReport {
    /// Published back to the work queue (confirmed) and removed from the dead queue.
    pub requeued: usize,
    /// Left in the dead queue because the filter did not select them.
    pub kept: usize,
}

/// Ready messages and consumers of every queue of the topology, by passive declares
/// (which create nothing: a missing queue is an `Error::Refused` with NOT_FOUND).
pub(crate) async fn queue_depths(settings: &QueueSettings) -> Result<Vec<QueueDepth>> {
    // No topology declaration here: `status` must not create queues.
    let link = Link::connect(settings, "status").await?;
    let mut depths = Vec::new();
    for queue in Topology::new(&settings.prefix).all_queues() {
        let declared = link
            .channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(amqp("queue.declare passive"))?;
        depths.push(QueueDepth {
            queue,
            ready: declared.message_count(),
            consumers: declared.consumer_count(),
        });
    }
    link.close().await?;
    Ok(depths)
}

/// Moves the selected messages of `route`'s dead-letter queue back to `route`, each
/// acked in the dead queue only after the broker confirmed its republication: a crash
/// in between leaves a duplicate, never a loss. Messages the filter rejects stay.
///
/// Reads at most as many messages as the dead queue held at the start, so that a
/// message that fails again at once, and comes back while we run, is not requeued in
/// a loop. Not resumed after a lost connection: run it again (unacked dead messages
/// return to the dead queue; some may have been requeued already, harmlessly).
pub(crate) async fn requeue_dead(
    settings: &QueueSettings,
    publisher: &Publisher,
    route: Route,
    mut select: impl FnMut(&DeadLetter) -> bool,
) -> Result<RequeueReport> {
    let link = Link::open(settings, "requeue").await?;
    let dead_queue = Topology::new(&settings.prefix).dead_queue(route);
    let at_start = link
        .channel
        .queue_declare(
            dead_queue.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(amqp("queue.declare passive"))?
        .message_count();

    let mut report = RequeueReport::default();
    // Not-selected messages stay unacked until the end, so basic.get never returns
    // them twice; then they go back to the dead queue.
    let mut kept = Vec::new();
    for _ in 0..at_start {
        let Some(message) = link
            .channel
            .basic_get(
                dead_queue.as_str().into(),
                BasicGetOptions { no_ack: false },
            )
            .await
            .map_err(amqp("basic.get"))?
        else {
            break;
        };
        let delivery = message.delivery;
        let headers = delivery.properties.headers().clone().unwrap_or_default();
        let letter = DeadLetter {
            message_id: delivery
                .properties
                .message_id()
                .as_ref()
                .map(|id| id.to_string()),
            payload: delivery.data,
            death_count: death_count(&headers),
            reason: last_death_reason(&headers),
        };
        if !select(&letter) {
            kept.push(delivery.acker);
            continue;
        }
        // The headers go along: `x-death` keeps the message's history, so a worker
        // can see it died before.
        let outgoing = OutgoingMessage::new(letter.message_id.unwrap_or_default(), letter.payload)
            .with_headers(headers);
        publisher
            .publish_batch(route, std::slice::from_ref(&outgoing))
            .await?;
        let acked = delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .map_err(amqp("basic.ack"))?;
        if !acked {
            return Err(Error::Unavailable {
                operation: "basic.ack",
                source: std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "dead-letter channel closed after republishing",
                )
                .into(),
            });
        }
        report.requeued += 1;
    }
    report.kept = kept.len();
    for acker in kept {
        let back = BasicNackOptions {
            multiple: false,
            requeue: true,
        };
        if let Err(error) = acker.nack(back).await {
            // Closing the channel below returns it anyway.
            warn!(%error, "could not return a kept dead letter; the channel close will");
        }
    }
    link.close().await?;
    info!(%route, requeued = report.requeued, kept = report.kept, "requeued dead letters");
    Ok(report)
}
