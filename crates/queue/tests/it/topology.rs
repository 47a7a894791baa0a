use hubsync_queue::{AmqpUrl, Broker, Error, Route};
use lapin::{
    options::QueueDeclareOptions,
    types::{AMQPValue, FieldTable, LongString},
};

use crate::common::{TestBroker, amqp_url, raw_channel, settings};

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// The arguments the broker holds for `{prefix}.chunks`, as we expect them.
fn expected_chunk_arguments(dlx: &str, quorum: bool) -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        text(if quorum { "quorum" } else { "classic" }),
    );
    arguments.insert("x-dead-letter-exchange".into(), text(dlx));
    arguments.insert("x-dead-letter-routing-key".into(), text("chunks"));
    if quorum {
        arguments.insert("x-delivery-limit".into(), AMQPValue::LongInt(10));
        arguments.insert("x-dead-letter-strategy".into(), text("at-least-once"));
        arguments.insert("x-overflow".into(), text("reject-publish"));
    }
    arguments
}

async fn redeclare(queue: &str, arguments: FieldTable) -> Result<(), lapin::Error> {
    let (_connection, channel) = raw_channel().await;
    channel
        .queue_declare(queue.into(), QueueDeclareOptions::durable(), arguments)
        .await
        .map(|_| ())
}

#[tokio::test]
async fn topology_is_idempotent_and_queues_dead_letter() {
    for quorum in [true, false] {
        let test = TestBroker::new(settings(quorum)).await;
        // A second declaration, as every role's startup does, changes nothing.
        test.broker.declare_topology().await.unwrap();
        let names = test.names();

        // The broker accepts our exact arguments again and refuses a different
        // dead-letter exchange: so these are the arguments the queue carries
        // (RabbitMQ answers an inequivalent redeclaration with PRECONDITION_FAILED).
        let chunks = names.queue(Route::Chunks);
        let dlx = names.dead_letter_exchange();
        redeclare(&chunks, expected_chunk_arguments(&dlx, quorum))
            .await
            .unwrap();
        let refused = redeclare(&chunks, expected_chunk_arguments("elsewhere", quorum)).await;
        assert!(
            refused.is_err(),
            "quorum={quorum}: another DLX was accepted"
        );

        let depths = test.broker.queue_depths().await.unwrap();
        let names_seen: Vec<_> = depths.iter().map(|d| d.queue.as_str()).collect();
        assert_eq!(
            names_seen,
            [
                format!("{}.chunks", test.broker.settings().prefix),
                format!("{}.outcomes", test.broker.settings().prefix),
                format!("{}.chunks.dead", test.broker.settings().prefix),
                format!("{}.outcomes.dead", test.broker.settings().prefix),
            ]
        );
        assert!(depths.iter().all(|d| d.ready == 0 && d.consumers == 0));
    }
}

#[tokio::test]
async fn changing_the_queue_type_is_refused_not_retried() {
    let test = TestBroker::new(settings(true)).await;
    let mut classic = test.broker.settings().clone();
    classic.quorum_queues = false;
    let error = Broker::new(classic)
        .unwrap()
        .declare_topology()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Refused { .. }), "{error:?}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn status_creates_nothing() {
    let broker = Broker::new(settings(true)).unwrap();
    let error = broker.queue_depths().await.unwrap_err();
    assert!(matches!(error, Error::Refused { .. }), "{error:?}");
}

#[tokio::test]
async fn bad_credentials_are_refused_without_leaking_the_password() {
    let url = amqp_url().replacen("guest:guest", "guest:wrong-s3cret", 1);
    let mut bad = settings(true);
    bad.url = AmqpUrl::parse(&url).unwrap();
    let error = Broker::new(bad)
        .unwrap()
        .declare_topology()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Refused { .. }), "{error:?}");
    assert!(!format!("{error:?}").contains("s3cret"), "{error:?}");
}
