use std::{net::SocketAddr, time::Duration};

use hubsync_queue::{AmqpUrl, Broker, Error, JobQueue, Route};

use crate::{
    common::{TestBroker, amqp_url, next_within, settings},
    proxy::Proxy,
};

const WAIT: Duration = Duration::from_secs(5);

fn broker_addr() -> SocketAddr {
    let url = amqp_url();
    let authority = url.split('@').nth(1).unwrap().split('/').next().unwrap();
    authority.parse().unwrap()
}

#[tokio::test]
async fn publisher_and_consumer_recover_after_the_connection_is_cut() {
    let proxy = Proxy::start(broker_addr()).await;
    let mut settings = settings(true);
    settings.url = AmqpUrl::parse(&proxy.url(&amqp_url())).unwrap();
    settings.publish_timeout_ms = 10_000;
    // Declared (and cleaned up) directly, so only the broker under test uses the proxy.
    let direct = TestBroker::new({
        let mut direct = settings.clone();
        direct.url = AmqpUrl::parse(&amqp_url()).unwrap();
        direct
    })
    .await;
    let names = direct.names();
    let broker = Broker::new(settings.clone()).unwrap();
    let (mut consumer, _shutdown) = {
        let shutdown = hubsync_queue::CancellationToken::new();
        (
            broker
                .consumer(Route::Chunks, shutdown.clone())
                .await
                .unwrap(),
            shutdown,
        )
    };

    broker
        .publish(Route::Chunks, "before", b"{}")
        .await
        .unwrap();
    let unacked = next_within(&mut consumer, WAIT).await.unwrap();
    assert_eq!(unacked.message_id(), Some("before"));
    assert!(!unacked.redelivered());

    proxy.cut();
    // Once the client has seen the socket close, an ack cannot reach the broker: a
    // retryable error, and the broker will redeliver. (An ack sent in the instant
    // before the client notices is lost silently, with the same redelivery.)
    tokio::time::sleep(Duration::from_millis(500)).await;
    let error = unacked.ack().await.unwrap_err();
    assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
    assert!(error.is_retryable());

    // With a short budget, a publish during the outage fails with a timeout…
    let mut impatient = settings.clone();
    impatient.publish_timeout_ms = 300;
    let error = Broker::new(impatient)
        .unwrap()
        .publish(Route::Chunks, "never", b"{}")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(error.is_retryable());

    // …and with a longer one it waits for the broker to come back.
    let during = tokio::spawn({
        let broker = broker.clone();
        async move { broker.publish(Route::Chunks, "during", b"{}").await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!during.is_finished(), "publish gave up during the outage");
    proxy.restore();
    during.await.unwrap().unwrap();

    // The consumer paused and resumed on its own: it gets the unacked message again,
    // flagged redelivered, and the one published during the outage.
    let mut seen = Vec::new();
    for _ in 0..2 {
        let delivery = next_within(&mut consumer, WAIT).await.unwrap();
        seen.push((
            delivery.message_id().unwrap().to_owned(),
            delivery.redelivered(),
        ));
        delivery.ack().await.unwrap();
    }
    seen.sort();
    assert_eq!(
        seen,
        [("before".to_owned(), true), ("during".to_owned(), false)]
    );
    assert!(
        next_within(&mut consumer, Duration::from_millis(300))
            .await
            .is_none()
    );

    consumer.close().await.unwrap();
    broker.close().await.unwrap();
    direct.wait_ready(&names.queue(Route::Chunks), 0).await;
}

#[tokio::test]
async fn a_consumer_waiting_for_the_broker_stops_on_cancel() {
    let proxy = Proxy::start(broker_addr()).await;
    let mut settings = settings(true);
    settings.url = AmqpUrl::parse(&proxy.url(&amqp_url())).unwrap();
    let _direct = TestBroker::new({
        let mut direct = settings.clone();
        direct.url = AmqpUrl::parse(&amqp_url()).unwrap();
        direct
    })
    .await;
    let broker = Broker::new(settings).unwrap();
    let shutdown = hubsync_queue::CancellationToken::new();
    let mut consumer = broker
        .consumer(Route::Outcomes, shutdown.clone())
        .await
        .unwrap();

    proxy.cut();
    let next = tokio::spawn(async move {
        let item = consumer.next().await;
        (item.is_none(), consumer)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !next.is_finished(),
        "the consumer should wait for the broker"
    );
    shutdown.cancel();
    let (ended, consumer) = tokio::time::timeout(WAIT, next).await.unwrap().unwrap();
    assert!(ended);
    consumer.close().await.unwrap();
}

#[tokio::test]
async fn a_permanent_error_while_reconnecting_ends_the_consumer() {
    let proxy = Proxy::start(broker_addr()).await;
    let mut settings = settings(true);
    settings.url = AmqpUrl::parse(&proxy.url(&amqp_url())).unwrap();
    let direct = TestBroker::new({
        let mut direct = settings.clone();
        direct.url = AmqpUrl::parse(&amqp_url()).unwrap();
        direct
    })
    .await;
    let broker = Broker::new(settings).unwrap();
    let mut consumer = broker
        .consumer(Route::Chunks, hubsync_queue::CancellationToken::new())
        .await
        .unwrap();

    // While we are cut off, someone replaces the quorum queue by a classic one: our
    // redeclaration on reconnect is refused, and waiting would not change that.
    proxy.cut();
    let (_connection, channel) = crate::common::raw_channel().await;
    let chunks = direct.names().queue(Route::Chunks);
    channel
        .queue_delete(chunks.as_str().into(), Default::default())
        .await
        .unwrap();
    channel
        .queue_declare(
            chunks.as_str().into(),
            lapin::options::QueueDeclareOptions::durable(),
            Default::default(),
        )
        .await
        .unwrap();
    proxy.restore();

    let item = tokio::time::timeout(WAIT, consumer.next()).await.unwrap();
    let error = item.unwrap().unwrap_err();
    assert!(matches!(error, Error::Refused { .. }), "{error:?}");
    assert!(consumer.next().await.is_none());
    consumer.close().await.unwrap();
}
