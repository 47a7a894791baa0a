//! Publishing with publisher confirms: a publish succeeds only once the broker has
//! taken responsibility for the message (<https://www.rabbitmq.com/docs/confirms>).

use std::{sync::Arc, time::Duration};

use backon::BackoffBuilder;
use futures_util::future::join_all;
use lapin::{
    BasicProperties, Confirmation,
    message::BasicReturnMessage,
    options::{BasicPublishOptions, ConfirmSelectOptions},
    types::{FieldTable, ShortString},
};
use tokio::{sync::Mutex, time::Instant};
use tracing::{debug, warn};

use crate::{
    Error, QueueSettings, Result, Route, Topology,
    error::{amqp, with_causes},
    link::Link,
};

/// How many publishes may await their confirms at once in a batch. Pipelining is what
/// makes confirms fast (one round trip per window instead of per message); the window
/// bounds the memory and the work redone when a connection drops mid-batch.
const CONFIRM_WINDOW: usize = 1_000;

/// A message to publish: an id (the chunk id, for the planner) and opaque bytes,
/// JSON by convention of hubsync-core.
#[derive(Clone, Debug, PartialEq)]
pub struct OutgoingMessage {
    message_id: String,
    payload: Vec<u8>,
    /// Carried over by `requeue` so that a message's `x-death` history survives.
    headers: FieldTable,
}

impl OutgoingMessage {
    /// A message with this id and payload. An empty id sets no `message_id` property.
    pub fn new(message_id: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            message_id: message_id.into(),
            payload: payload.into(),
            headers: FieldTable::default(),
        }
    }

    pub(crate) fn with_headers(mut self, headers: FieldTable) -> Self {
        self.headers = headers;
        self
    }

    /// The id given at construction.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The bytes given at construction.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    fn properties(&self) -> BasicProperties {
        // Persistent (delivery mode 2): together with durable queues, a confirmed
        // message survives a broker restart (https://www.rabbitmq.com/docs/persistence-conf).
        let mut properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(ShortString::from("application/json"));
        if !self.message_id.is_empty() {
            properties = properties.with_message_id(ShortString::from(self.message_id.as_str()));
        }
        if !self.headers.inner().is_empty() {
            properties = properties.with_headers(self.headers.clone());
        }
        properties
    }
}

/// Publishes to the jobs exchange on a confirm-mode channel of its own connection.
///
/// Cheap to clone; clones share the connection. The connection is opened at the
/// first publish and reopened after it is lost, with
/// the topology redeclared each time.
///
/// During a broker outage a publish does not fail at once: it keeps reconnecting with
/// backoff and republishing what was not confirmed, until it succeeds or
/// `publish_timeout` has passed since the call, and then fails with
/// [`Error::Timeout`] (naming the last error). A message whose confirm was lost with
/// the connection is published again, so the broker may hold it twice: consumers are
/// idempotent.
///
/// An unroutable message (its queue or binding was removed) fails the publish at
/// once with [`Error::Unroutable`]; the next publish reopens the connection and so
/// redeclares the topology.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Arc<QueueSettings>,
    names: Topology,
    /// The live link, if any. A tokio mutex because opening a link awaits, and
    /// concurrent publishes after an outage must open one link, not one each.
    link: Mutex<Option<Arc<Link>>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("prefix", &self.inner.settings.prefix)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher that connects at its first publish.
    pub(crate) fn lazy(settings: Arc<QueueSettings>) -> Self {
        let names = Topology::new(&settings.prefix);
        Self {
            inner: Arc::new(Inner {
                settings,
                names,
                link: Mutex::new(None),
            }),
        }
    }

    /// Publishes one message and returns once the broker confirmed it (see the type's
    /// documentation for outages).
    pub async fn publish(&self, route: Route, message_id: &str, payload: &[u8]) -> Result<()> {
        let message = OutgoingMessage::new(message_id, payload);
        self.publish_batch(route, std::slice::from_ref(&message))
            .await
    }

    /// Publishes every message, pipelined, and returns once the broker confirmed all of
    /// them. The `publish_timeout` budget covers the whole batch. On error, some
    /// messages may have been published: publishing the whole batch again is safe.
    pub async fn publish_batch(&self, route: Route, messages: &[OutgoingMessage]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let timeout = self.inner.settings.publish_timeout();
        let deadline = Instant::now() + timeout;
        let mut unconfirmed: Vec<usize> = (0..messages.len()).collect();
        let mut backoff = self.inner.settings.reconnect_backoff().build();
        let mut last_error: Option<Error> = None;

        let attempts = async {
            loop {
                let error = match self.current_link().await {
                    Ok(link) => {
                        match self
                            .publish_unconfirmed(&link, route, messages, &mut unconfirmed)
                            .await
                        {
                            Ok(()) => return Ok(()),
                            Err(error) => {
                                // Unroutable: someone removed a queue or binding. Reopen
                                // at the next publish, which redeclares the topology.
                                if error.broke_the_link()
                                    || matches!(error, Error::Unroutable { .. })
                                {
                                    self.forget(&link).await;
                                }
                                error
                            }
                        }
                    }
                    Err(error) => error,
                };
                if !error.is_retryable() {
                    return Err(error);
                }
                let delay = backoff
                    .next()
                    .unwrap_or(Duration::from_millis(self.inner.settings.reconnect_max_ms));
                warn!(
                    error = with_causes(&error),
                    %route,
                    unconfirmed = unconfirmed.len(),
                    retry_in_ms = delay.as_millis() as u64,
                    "publish failed, retrying"
                );
                last_error = Some(error);
                tokio::time::sleep(delay).await;
            }
        };
        match tokio::time::timeout_at(deadline, attempts).await {
            Ok(result) => result,
            Err(_elapsed) => {
                // A confirm that never comes may mean a half-open connection: start over.
                self.forget_any().await;
                Err(Error::Timeout {
                    operation: "publish",
                    timeout,
                    last_error: last_error.map_or_else(|| "none".to_owned(), |e| with_causes(&e)),
                })
            }
        }
    }

    /// Closes the connection, if open. Later publishes would open a new one.
    pub async fn close(&self) -> Result<()> {
        let link = self.inner.link.lock().await.take();
        match link {
            Some(link) => link.close().await,
            None => Ok(()),
        }
    }

    /// The live link, opening one (one attempt) if there is none.
    pub(crate) async fn current_link(&self) -> Result<Arc<Link>> {
        let mut slot = self.inner.link.lock().await;
        if let Some(link) = slot.as_ref().filter(|link| link.is_usable()) {
            return Ok(Arc::clone(link));
        }
        *slot = None;
        let link = Link::open(&self.inner.settings, "publisher").await?;
        link.channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(amqp("confirm.select"))?;
        debug!(prefix = %self.inner.settings.prefix, "publisher connected");
        let link = Arc::new(link);
        *slot = Some(Arc::clone(&link));
        Ok(link)
    }

    /// Drops `link` if it is still the current one (another task may have replaced it).
    async fn forget(&self, link: &Arc<Link>) {
        let mut slot = self.inner.link.lock().await;
        if slot
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, link))
        {
            *slot = None;
        }
    }

    async fn forget_any(&self) {
        self.inner.link.lock().await.take();
    }

    /// Publishes the messages listed in `unconfirmed` and leaves there those that were
    /// not confirmed. The error returned is the most serious one met.
    async fn publish_unconfirmed(
        &self,
        link: &Link,
        route: Route,
        messages: &[OutgoingMessage],
        unconfirmed: &mut Vec<usize>,
    ) -> Result<()> {
        let exchange = self.inner.names.exchange();
        let pending = std::mem::take(unconfirmed);
        let mut worst: Option<Error> = None;
        for window in pending.chunks(CONFIRM_WINDOW) {
            if worst.as_ref().is_some_and(Error::broke_the_link) {
                unconfirmed.extend_from_slice(window);
                continue;
            }
            let mut confirms = Vec::with_capacity(window.len());
            for (position, &index) in window.iter().enumerate() {
                let message = &messages[index];
                let published = link
                    .channel
                    .basic_publish(
                        exchange.as_str().into(),
                        route.routing_key().into(),
                        // Mandatory: a message that matches no queue comes back to us as
                        // an error instead of being silently dropped
                        // (https://www.rabbitmq.com/docs/publishers#unroutable).
                        BasicPublishOptions {
                            mandatory: true,
                            immediate: false,
                        },
                        &message.payload,
                        message.properties(),
                    )
                    .await;
                match published {
                    Ok(confirm) => confirms.push((index, confirm)),
                    Err(error) => {
                        keep_worst(&mut worst, Error::from_lapin("basic.publish", error));
                        unconfirmed.extend_from_slice(&window[position..]);
                        break;
                    }
                }
            }
            let confirmations = join_all(
                confirms
                    .into_iter()
                    .map(|(index, confirm)| async move { (index, confirm.await) }),
            )
            .await;
            for (index, confirmation) in confirmations {
                let message_id = &messages[index].message_id;
                let failure = match confirmation {
                    Ok(Confirmation::Ack(None)) => None,
                    Ok(Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned))) => {
                        Some(unroutable(message_id, &returned))
                    }
                    // Without confirm mode we would not know the broker took it: treat
                    // as not taken (cannot happen on our confirm-select channel).
                    Ok(Confirmation::Nack(None) | Confirmation::NotRequested) => {
                        Some(Error::Nacked {
                            message_id: message_id.clone(),
                        })
                    }
                    Err(error) => Some(Error::from_lapin("publisher confirm", error)),
                };
                if let Some(error) = failure {
                    keep_worst(&mut worst, error);
                    unconfirmed.push(index);
                }
            }
        }
        worst.map_or(Ok(()), Err)
    }
}

fn unroutable(message_id: &str, returned: &BasicReturnMessage) -> Error {
    Error::Unroutable {
        message_id: message_id.to_owned(),
        exchange: returned.delivery.exchange.to_string(),
        routing_key: returned.delivery.routing_key.to_string(),
        reply_text: returned.reply_text.to_string(),
    }
}

/// Keeps the error that decides what happens next: a permanent one stops retrying, so
/// it wins over a transient one; among equals the first is kept.
fn keep_worst(worst: &mut Option<Error>, error: Error) {
    let replace = match worst {
        None => true,
        Some(current) => current.is_retryable() && !error.is_retryable(),
    };
    if replace {
        *worst = Some(error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permanent_error_outranks_a_transient_one() {
        let mut worst = None;
        keep_worst(
            &mut worst,
            Error::Nacked {
                message_id: "a".into(),
            },
        );
        keep_worst(
            &mut worst,
            Error::Unroutable {
                message_id: "b".into(),
                exchange: "x".into(),
                routing_key: "k".into(),
                reply_text: "NO_ROUTE".into(),
            },
        );
        keep_worst(
            &mut worst,
            Error::Nacked {
                message_id: "c".into(),
            },
        );
        assert!(
            matches!(worst, Some(Error::Unroutable { ref message_id, .. }) if message_id == "b")
        );
    }

    #[test]
    fn messages_are_persistent_json_with_their_id() {
        let properties = OutgoingMessage::new("chunk-1", b"{}".to_vec()).properties();
        assert_eq!(properties.delivery_mode(), &Some(2));
        assert_eq!(
            properties.content_type().as_ref().map(|s| s.as_str()),
            Some("application/json")
        );
        assert_eq!(
            properties.message_id().as_ref().map(|s| s.as_str()),
            Some("chunk-1")
        );
        assert!(properties.headers().is_none());
    }
}
