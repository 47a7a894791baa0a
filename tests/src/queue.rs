//! Queues of one's own: a random prefix on the shared broker, deleted at the end (or by
//! the guard when a test panics).

use hubsync_queue::{AmqpUrl, Broker, QueueSettings, Route, Topology};
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions,
    QueueDeleteOptions,
};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

/// The broker every test shares (`AMQP_URL`).
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A topology under a random prefix.
pub struct TestQueues {
    pub broker: Broker,
    pub prefix: String,
    guard: Option<DeleteGuard>,
}

impl TestQueues {
    pub async fn create() -> Self {
        let mut settings =
            QueueSettings::new(AmqpUrl::parse(&amqp_url()).expect("AMQP_URL parses"));
        settings.prefix = format!(
            "hubsync-e2e-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        settings.publish_timeout_ms = 10_000;
        settings.connect_timeout_ms = 5_000;
        settings.reconnect_min_ms = 50;
        settings.reconnect_max_ms = 500;
        let prefix = settings.prefix.clone();
        let broker = Broker::new(settings).expect("queue settings");
        broker.declare_topology().await.expect("topology");
        Self {
            broker,
            guard: Some(DeleteGuard {
                prefix: prefix.clone(),
            }),
            prefix,
        }
    }

    pub fn names(&self) -> Topology {
        self.broker.topology()
    }

    /// Messages ready in a queue of the topology (unacked ones are not counted by the
    /// broker).
    pub async fn ready(&self, queue: &str) -> u32 {
        self.broker
            .queue_depths()
            .await
            .expect("queue depths")
            .into_iter()
            .find(|depth| depth.queue == queue)
            .unwrap_or_else(|| panic!("{queue} is not a queue of the topology"))
            .ready
    }

    /// Messages ready in the dead-letter queue of `route`.
    pub async fn dead(&self, route: Route) -> u32 {
        self.ready(&self.names().dead_queue(route)).await
    }

    /// Takes one message from a queue (acked at once), to inspect it.
    pub async fn take_one(&self, queue: &str) -> Option<Vec<u8>> {
        let (connection, channel) = raw_channel().await;
        let message = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get");
        connection.close(200, "bye".into()).await.ok();
        message.map(|message| message.delivery.data)
    }

    /// Puts a message straight into a queue (through the default exchange), as the
    /// broker does when it dead-letters one.
    pub async fn put(&self, queue: &str, message_id: &str, payload: &[u8]) {
        let (connection, channel) = raw_channel().await;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirms");
        channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                payload,
                BasicProperties::default()
                    .with_message_id(message_id.into())
                    .with_delivery_mode(2),
            )
            .await
            .expect("publish")
            .await
            .expect("confirmed");
        connection.close(200, "bye".into()).await.ok();
    }

    pub async fn delete(mut self) {
        self.broker.close().await.ok();
        if let Some(guard) = self.guard.take() {
            delete_now(&guard.prefix).await;
            std::mem::forget(guard);
        }
    }
}

async fn raw_channel() -> (Connection, Channel) {
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("amqp connection");
    let channel = connection.create_channel().await.expect("channel");
    (connection, channel)
}

async fn delete_now(prefix: &str) {
    let (connection, channel) = raw_channel().await;
    let names = Topology::new(prefix);
    for queue in names.all_queues() {
        channel
            .queue_delete(queue.into(), QueueDeleteOptions::default())
            .await
            .ok();
    }
    for exchange in [names.exchange(), names.dead_letter_exchange()] {
        channel
            .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
            .await
            .ok();
    }
    connection.close(200, "bye".into()).await.ok();
}

struct DeleteGuard {
    prefix: String,
}

impl Drop for DeleteGuard {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(delete_now(&prefix));
            }
        })
        .join();
    }
}
