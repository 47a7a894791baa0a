use std::time::Duration;

use hubsync_queue::{JobQueue, Route};
use lapin::types::AMQPValue;

use crate::common::{TestBroker, WAIT, ack_next, get_one, next_within, settings};

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn confirmed_messages_arrive_and_ack_or_dead_letter() {
    for quorum in [true, false] {
        let test = TestBroker::new(settings(quorum)).await;
        let names = test.names();
        test.broker
            .publish(Route::Chunks, "chunk-1", br#"{"chunk":1}"#)
            .await
            .unwrap();
        test.broker
            .publish(Route::Chunks, "chunk-2", br#"{"chunk":2}"#)
            .await
            .unwrap();

        let (mut consumer, _shutdown) = test.consumer(Route::Chunks).await;
        let first = next_within(&mut consumer, WAIT).await.unwrap();
        assert_eq!(first.payload(), br#"{"chunk":1}"#);
        assert_eq!(first.message_id(), Some("chunk-1"));
        assert_eq!(first.content_type(), Some("application/json"));
        assert_eq!(first.route(), Route::Chunks);
        assert!(!first.redelivered());
        assert_eq!(first.death_count(), 0);
        first.ack().await.unwrap();

        let second = next_within(&mut consumer, WAIT).await.unwrap();
        assert_eq!(second.message_id(), Some("chunk-2"));
        second.nack_dead_letter().await.unwrap();
        assert!(next_within(&mut consumer, QUIET).await.is_none());
        // Closing returns whatever is unacked: an ack that did not happen would show
        // up as a ready message here.
        consumer.close().await.unwrap();
        test.wait_ready(&names.queue(Route::Chunks), 0).await;
        test.wait_ready(&names.dead_queue(Route::Chunks), 1).await;

        let dead = get_one(&names.dead_queue(Route::Chunks)).await.unwrap();
        assert_eq!(
            dead.delivery
                .properties
                .message_id()
                .as_ref()
                .map(|s| s.as_str()),
            Some("chunk-2")
        );
        assert_eq!(dead.delivery.data, br#"{"chunk":2}"#);
        let headers = dead.delivery.properties.headers().clone().unwrap();
        let Some(AMQPValue::FieldArray(deaths)) = headers.inner().get("x-death") else {
            panic!("quorum={quorum}: no x-death header in {headers:?}");
        };
        let AMQPValue::FieldTable(death) = &deaths.as_slice()[0] else {
            panic!("x-death entry is not a table");
        };
        assert_eq!(
            death.inner().get("reason"),
            Some(&AMQPValue::LongString("rejected".into()))
        );
        assert_eq!(
            death.inner().get("queue"),
            Some(&AMQPValue::LongString(
                names.queue(Route::Chunks).as_str().into()
            ))
        );
    }
}

#[tokio::test]
async fn prefetch_bounds_unacked_deliveries() {
    let mut settings = settings(true);
    settings.prefetch = 2;
    let test = TestBroker::new(settings).await;
    let queue = test.names().queue(Route::Chunks);
    for i in 0..5 {
        test.broker
            .publish(Route::Chunks, &format!("m{i}"), b"{}")
            .await
            .unwrap();
    }
    let (mut consumer, _shutdown) = test.consumer(Route::Chunks).await;
    let a = next_within(&mut consumer, WAIT).await.unwrap();
    let b = next_within(&mut consumer, WAIT).await.unwrap();
    // Two unacked: the broker sends no third, and keeps three ready.
    assert!(next_within(&mut consumer, QUIET).await.is_none());
    test.wait_ready(&queue, 3).await;

    a.ack().await.unwrap();
    let c = next_within(&mut consumer, WAIT).await.unwrap();
    assert!(next_within(&mut consumer, QUIET).await.is_none());
    test.wait_ready(&queue, 2).await;

    for delivery in [b, c] {
        delivery.ack().await.unwrap();
    }
    ack_next(2, &mut consumer).await;
    consumer.close().await.unwrap();
    test.wait_ready(&queue, 0).await;
}

#[tokio::test]
async fn cancelled_consumer_takes_nothing_new_but_can_ack_in_flight() {
    let mut settings = settings(true);
    settings.prefetch = 3;
    let test = TestBroker::new(settings).await;
    let queue = test.names().queue(Route::Chunks);
    for i in 0..5 {
        test.broker
            .publish(Route::Chunks, &format!("m{i}"), b"{}")
            .await
            .unwrap();
    }
    let (mut consumer, shutdown) = test.consumer(Route::Chunks).await;
    let in_flight = [
        next_within(&mut consumer, WAIT).await.unwrap(),
        next_within(&mut consumer, WAIT).await.unwrap(),
    ];
    // Let the third prefetched delivery reach the client's buffer.
    tokio::time::sleep(QUIET).await;

    shutdown.cancel();
    assert!(consumer.next().await.is_none(), "a delivery after cancel");
    assert!(consumer.next().await.is_none());
    // The buffered third went back, with the two never sent.
    test.wait_ready(&queue, 3).await;

    for delivery in in_flight {
        delivery.ack().await.unwrap();
    }
    // A quorum queue keeps a cancelled consumer until its deliveries are settled;
    // then the subscription is gone, though the channel is still open.
    let mut consumers = u32::MAX;
    for _ in 0..50 {
        consumers = test.broker.queue_depths().await.unwrap()[0].consumers;
        if consumers == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(consumers, 0);
    consumer.close().await.unwrap();
    // Acked in flight, so closing returned nothing more.
    test.wait_ready(&queue, 3).await;

    let (mut next_pod, _shutdown) = test.consumer(Route::Chunks).await;
    ack_next(3, &mut next_pod).await;
    next_pod.close().await.unwrap();
    test.wait_ready(&queue, 0).await;
}

#[tokio::test]
async fn a_dropped_delivery_returns_until_the_delivery_limit_dead_letters_it() {
    let mut settings = settings(true);
    settings.delivery_limit = 2;
    let test = TestBroker::new(settings).await;
    let names = test.names();
    test.broker
        .publish(Route::Chunks, "poison", b"{}")
        .await
        .unwrap();
    let (mut consumer, _shutdown) = test.consumer(Route::Chunks).await;

    let mut deliveries = 0;
    while let Some(delivery) = next_within(&mut consumer, Duration::from_secs(1)).await {
        assert_eq!(delivery.message_id(), Some("poison"));
        assert_eq!(delivery.redelivered(), deliveries > 0);
        assert_eq!(delivery.delivery_count(), deliveries);
        deliveries += 1;
        // A handler that panics drops its delivery: it must come back, not stall.
        drop(delivery);
        assert!(deliveries <= 3, "the delivery limit did not stop the loop");
    }
    // Returned twice (the limit), dead-lettered at the third return.
    assert_eq!(deliveries, 3);
    consumer.close().await.unwrap();
    test.wait_ready(&names.dead_queue(Route::Chunks), 1).await;
    let dead = get_one(&names.dead_queue(Route::Chunks)).await.unwrap();
    let headers = dead.delivery.properties.headers().clone().unwrap();
    let Some(AMQPValue::FieldArray(deaths)) = headers.inner().get("x-death") else {
        panic!("no x-death header in {headers:?}");
    };
    let AMQPValue::FieldTable(death) = &deaths.as_slice()[0] else {
        panic!("x-death entry is not a table");
    };
    assert_eq!(
        death.inner().get("reason"),
        Some(&AMQPValue::LongString("delivery_limit".into()))
    );
}

/// Written against the trait only, as a role generic over its queue would be; spawned,
/// so the futures must be `Send`.
async fn dead_letter_one_outcome<Q: JobQueue>(queue: Q) -> Option<String> {
    use hubsync_queue::DeliveryStream;
    queue
        .publish_batch(
            Route::Outcomes,
            &[hubsync_queue::OutgoingMessage::new("outcome-1", "{}")],
        )
        .await
        .unwrap();
    let mut consumer = queue
        .consume(Route::Outcomes, hubsync_queue::CancellationToken::new())
        .await
        .unwrap();
    let delivery = DeliveryStream::next(&mut consumer).await.unwrap().unwrap();
    let id = delivery.message_id().map(str::to_owned);
    delivery.nack_dead_letter().await.unwrap();
    DeliveryStream::close(consumer).await.unwrap();
    id
}

#[tokio::test]
async fn outcomes_have_their_own_dead_letter_queue() {
    let test = TestBroker::new(settings(true)).await;
    let names = test.names();
    let id = tokio::spawn(dead_letter_one_outcome(test.broker.clone()))
        .await
        .unwrap();
    assert_eq!(id.as_deref(), Some("outcome-1"));
    test.wait_ready(&names.dead_queue(Route::Outcomes), 1).await;
    test.wait_ready(&names.dead_queue(Route::Chunks), 0).await;
    test.wait_ready(&names.queue(Route::Outcomes), 0).await;
}
