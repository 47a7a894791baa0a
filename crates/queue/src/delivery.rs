//! A received message and the one way to settle it.

use lapin::{
    Acker,
    options::{BasicAckOptions, BasicNackOptions},
    types::{AMQPValue, FieldTable},
};
use tracing::{debug, warn};

use crate::{Error, Result, Route};

/// One message handed to a consumer. Settle it exactly once, with [`Delivery::ack`]
/// after the work is durable (the database commit) or [`Delivery::nack_dead_letter`]
/// when it can never succeed; both take `self`, so a second settlement does not
/// compile.
///
/// Dropping an unsettled delivery (a handler that panicked or gave up during
/// shutdown) returns the message to its queue at once, with a warning: otherwise it
/// would hold a prefetch slot until the channel closes. On a quorum queue that return
/// counts toward the delivery limit, which is what stops a message that crashes every
/// handler from looping.
#[derive(Debug)]
pub struct Delivery {
    route: Route,
    payload: Vec<u8>,
    message_id: Option<String>,
    content_type: Option<String>,
    redelivered: bool,
    headers: FieldTable,
    /// `None` once settled.
    acker: Option<Acker>,
}

impl Delivery {
    pub(crate) fn from_lapin(route: Route, delivery: lapin::message::Delivery) -> Self {
        let properties = &delivery.properties;
        Self {
            route,
            message_id: properties.message_id().as_ref().map(|id| id.to_string()),
            content_type: properties.content_type().as_ref().map(|ct| ct.to_string()),
            headers: properties.headers().clone().unwrap_or_default(),
            redelivered: delivery.redelivered,
            payload: delivery.data,
            acker: Some(delivery.acker),
        }
    }

    /// The route (queue) it came from.
    pub fn route(&self) -> Route {
        self.route
    }

    /// The message body, as published.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The publisher's message id (the chunk id for chunk jobs), if it set one.
    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    /// The content type, `application/json` for everything we publish.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// True when the broker delivered this message before, to this or another
    /// consumer, without an ack (a consumer died, a connection dropped). The work
    /// may have been done already: handlers are idempotent.
    pub fn redelivered(&self) -> bool {
        self.redelivered
    }

    /// How many times this message was dead-lettered before (sum of the `count`s in
    /// its `x-death` header): 0 for a fresh message, 1 after one trip through the
    /// dead-letter queue and back by `requeue`.
    pub fn death_count(&self) -> u64 {
        death_count(&self.headers)
    }

    /// How many times a quorum queue returned this message after a consumer failed to
    /// settle it (`x-delivery-count`); 0 on classic queues and on first delivery.
    pub fn delivery_count(&self) -> u64 {
        self.headers
            .inner()
            .get("x-delivery-count")
            .and_then(as_u64)
            .unwrap_or(0)
    }

    /// Acknowledges: the broker forgets the message. Call after the work is durable.
    ///
    /// Fails with [`Error::Unavailable`] when the channel it came on is gone: the ack
    /// is lost and the broker will deliver the message again.
    pub async fn ack(mut self) -> Result<()> {
        let acker = self.take_acker();
        let acked = acker
            .ack(BasicAckOptions::default())
            .await
            .map_err(|e| Error::from_lapin("basic.ack", e))?;
        settled_or_lost("basic.ack", acked)
    }

    /// Rejects without requeue, so the broker dead-letters it to the route's `.dead`
    /// queue (with an `x-death` header). Requeueing in place is deliberately not
    /// offered: a message that fails at once would come straight back, a hot loop.
    pub async fn nack_dead_letter(mut self) -> Result<()> {
        let acker = self.take_acker();
        let nacked = acker
            .nack(BasicNackOptions {
                multiple: false,
                requeue: false,
            })
            .await
            .map_err(|e| Error::from_lapin("basic.nack", e))?;
        settled_or_lost("basic.nack", nacked)
    }

    fn take_acker(&mut self) -> Acker {
        match self.acker.take() {
            Some(acker) => acker,
            // `ack`/`nack_dead_letter` take `self` and are the only callers, so the
            // acker is always present here.
            None => unreachable!("a delivery is settled at most once"),
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        let Some(acker) = self.acker.take() else {
            return;
        };
        if !acker.usable() {
            // The channel is gone: the broker already took the message back.
            return;
        }
        warn!(
            message_id = self.message_id.as_deref().unwrap_or(""),
            route = %self.route,
            "delivery dropped without ack or nack; returning it to the queue"
        );
        let message_id = self.message_id.take();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(release(acker, message_id));
        }
    }
}

/// Returns a message to its queue (nack with requeue): for a dropped delivery, and for
/// deliveries prefetched but never handed out when a consumer stops.
pub(crate) async fn release(acker: Acker, message_id: Option<String>) {
    let requeue = BasicNackOptions {
        multiple: false,
        requeue: true,
    };
    if let Err(error) = acker.nack(requeue).await {
        // The broker returns it anyway when the channel closes.
        debug!(%error, message_id = message_id.as_deref().unwrap_or(""), "could not return a delivery");
    }
}

fn settled_or_lost(operation: &'static str, settled: bool) -> Result<()> {
    if settled {
        return Ok(());
    }
    // lapin answers `false` when the channel died before the ack could be sent.
    Err(Error::Unavailable {
        operation,
        source: std::io::Error::new(
            std::io::ErrorKind::NotConnected,
            "the channel this delivery came on is closed; the broker will redeliver it",
        )
        .into(),
    })
}

/// Sum of the `count` of every `x-death` entry (one entry per queue and reason).
pub(crate) fn death_count(headers: &FieldTable) -> u64 {
    let Some(AMQPValue::FieldArray(deaths)) = headers.inner().get("x-death") else {
        return 0;
    };
    deaths
        .as_slice()
        .iter()
        .filter_map(|death| match death {
            AMQPValue::FieldTable(death) => death.inner().get("count").and_then(as_u64),
            _ => None,
        })
        .sum()
}

/// The reason of the most recent death (`rejected`, `delivery_limit`, `expired`…).
pub(crate) fn last_death_reason(headers: &FieldTable) -> Option<String> {
    let Some(AMQPValue::FieldArray(deaths)) = headers.inner().get("x-death") else {
        return None;
    };
    // RabbitMQ keeps the most recent entry first.
    match deaths.as_slice().first()? {
        AMQPValue::FieldTable(death) => match death.inner().get("reason")? {
            AMQPValue::LongString(reason) => Some(reason.to_string()),
            AMQPValue::ShortString(reason) => Some(reason.to_string()),
            _ => None,
        },
        _ => None,
    }
}

fn as_u64(value: &AMQPValue) -> Option<u64> {
    match *value {
        AMQPValue::ShortShortUInt(v) => Some(v.into()),
        AMQPValue::ShortUInt(v) => Some(v.into()),
        AMQPValue::LongUInt(v) => Some(v.into()),
        AMQPValue::ShortShortInt(v) => u64::try_from(v).ok(),
        AMQPValue::ShortInt(v) => u64::try_from(v).ok(),
        AMQPValue::LongInt(v) => u64::try_from(v).ok(),
        AMQPValue::LongLongInt(v) => u64::try_from(v).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::{FieldArray, LongString};

    fn death(count: i64, reason: &str) -> AMQPValue {
        let mut entry = FieldTable::default();
        entry.insert("count".into(), AMQPValue::LongLongInt(count));
        entry.insert(
            "reason".into(),
            AMQPValue::LongString(LongString::from(reason)),
        );
        AMQPValue::FieldTable(entry)
    }

    #[test]
    fn death_count_sums_every_entry() {
        let mut headers = FieldTable::default();
        assert_eq!(death_count(&headers), 0);
        assert_eq!(last_death_reason(&headers), None);
        let mut deaths = FieldArray::default();
        deaths.push(death(2, "rejected"));
        deaths.push(death(1, "delivery_limit"));
        headers.insert("x-death".into(), AMQPValue::FieldArray(deaths));
        assert_eq!(death_count(&headers), 3);
        assert_eq!(last_death_reason(&headers).as_deref(), Some("rejected"));
    }
}
