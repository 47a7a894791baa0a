use std::time::Duration;

use hubsync_queue::{AmqpUrl, Broker, Consumer, Delivery, QueueSettings, Route, Topology};
use lapin::{
    Channel, Connection, ConnectionProperties,
    message::BasicGetMessage,
    options::{BasicGetOptions, ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions},
    types::FieldTable,
};

pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Settings with a fresh prefix and durations short enough for tests.
pub fn settings(quorum_queues: bool) -> QueueSettings {
    settings_for(&amqp_url(), quorum_queues)
}

pub fn settings_for(url: &str, quorum_queues: bool) -> QueueSettings {
    let mut settings = QueueSettings::new(AmqpUrl::parse(url).unwrap());
    settings.prefix = format!(
        "hubsync-test-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    settings.quorum_queues = quorum_queues;
    settings.publish_timeout_ms = 5_000;
    settings.connect_timeout_ms = 2_000;
    settings.reconnect_min_ms = 50;
    settings.reconnect_max_ms = 400;
    settings
}

/// A broker on its own prefix whose queues and exchanges are deleted when dropped.
pub struct TestBroker {
    pub broker: Broker,
    _cleanup: Cleanup,
}

impl TestBroker {
    pub async fn new(settings: QueueSettings) -> Self {
        let cleanup = Cleanup {
            prefix: settings.prefix.clone(),
        };
        let broker = Broker::new(settings).unwrap();
        broker.declare_topology().await.unwrap();
        Self {
            broker,
            _cleanup: cleanup,
        }
    }

    pub fn names(&self) -> Topology {
        self.broker.topology()
    }

    /// Ready messages in `queue` (unacked ones are not counted by the broker).
    pub async fn ready(&self, queue: &str) -> u32 {
        let (_connection, channel) = raw_channel().await;
        channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap()
            .message_count()
    }

    /// Polls until `queue` holds `expected` ready messages (the broker's counters lag
    /// a little behind acks and dead-lettering), failing after two seconds.
    pub async fn wait_ready(&self, queue: &str, expected: u32) {
        let mut seen = 0;
        for _ in 0..100 {
            seen = self.ready(queue).await;
            if seen == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{queue} has {seen} ready messages, expected {expected}");
    }

    pub async fn consumer(&self, route: Route) -> (Consumer, hubsync_queue::CancellationToken) {
        let shutdown = hubsync_queue::CancellationToken::new();
        let consumer = self.broker.consumer(route, shutdown.clone()).await.unwrap();
        (consumer, shutdown)
    }
}

/// The next delivery within `wait`, or `None` if none came.
pub async fn next_within(consumer: &mut Consumer, wait: Duration) -> Option<Delivery> {
    match tokio::time::timeout(wait, consumer.next()).await {
        Ok(Some(delivery)) => Some(delivery.unwrap()),
        Ok(None) => panic!("consumer ended"),
        Err(_) => None,
    }
}

/// How long a test waits for a delivery that must come.
pub const WAIT: Duration = Duration::from_secs(3);

/// Takes `count` deliveries (each within `WAIT`) and acks them.
pub async fn ack_next(count: usize, consumer: &mut Consumer) {
    for _ in 0..count {
        next_within(consumer, WAIT)
            .await
            .expect("a delivery")
            .ack()
            .await
            .unwrap();
    }
}

pub async fn raw_channel() -> (Connection, Channel) {
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    (connection, channel)
}

/// One message from `queue`, acked at once (to inspect dead letters).
pub async fn get_one(queue: &str) -> Option<BasicGetMessage> {
    let (_connection, channel) = raw_channel().await;
    channel
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
}

struct Cleanup {
    prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // Runs in its own thread and runtime: Drop cannot await, and it must also run
        // when the test's runtime is unwinding from a panic.
        let prefix = self.prefix.clone();
        let cleaned = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let (connection, channel) = raw_channel().await;
                let names = Topology::new(&prefix);
                for queue in names.all_queues() {
                    channel
                        .queue_delete(queue.into(), QueueDeleteOptions::default())
                        .await
                        .unwrap();
                }
                for exchange in [names.exchange(), names.dead_letter_exchange()] {
                    channel
                        .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
                        .await
                        .unwrap();
                }
                connection.close(200, "bye".into()).await.unwrap();
            });
        })
        .join();
        if cleaned.is_err() && !std::thread::panicking() {
            panic!("could not delete the test topology of {}", self.prefix);
        }
    }
}
