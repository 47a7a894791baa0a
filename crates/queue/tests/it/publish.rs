use std::time::{Duration, Instant};

use hubsync_queue::{Error, JobQueue, OutgoingMessage, Route};
use lapin::options::QueueDeleteOptions;

use crate::common::{TestBroker, raw_channel, settings};

#[tokio::test]
async fn a_batch_is_confirmed_across_confirm_windows() {
    let test = TestBroker::new(settings(true)).await;
    // More than one confirm window (1,000), as a big planner run would publish.
    let messages: Vec<_> = (0..2_500)
        .map(|i| OutgoingMessage::new(format!("chunk-{i}"), format!(r#"{{"n":{i}}}"#)))
        .collect();
    test.broker
        .publish_batch(Route::Chunks, &messages)
        .await
        .unwrap();
    // Confirmed means queued: every message is there as soon as the call returns.
    assert_eq!(test.ready(&test.names().queue(Route::Chunks)).await, 2_500);
    assert_eq!(test.ready(&test.names().queue(Route::Outcomes)).await, 0);

    test.broker
        .publish(Route::Outcomes, "outcome-1", b"{}")
        .await
        .unwrap();
    assert_eq!(test.ready(&test.names().queue(Route::Outcomes)).await, 1);
    test.broker.close().await.unwrap();
}

#[tokio::test]
async fn an_unroutable_publish_is_an_error_at_once() {
    let test = TestBroker::new(settings(true)).await;
    // Warm the publisher up first, so the topology is not redeclared under us.
    test.broker
        .publish(Route::Chunks, "first", b"{}")
        .await
        .unwrap();

    let (_connection, channel) = raw_channel().await;
    channel
        .queue_delete(
            test.names().queue(Route::Chunks).into(),
            QueueDeleteOptions::default(),
        )
        .await
        .unwrap();

    let started = Instant::now();
    let error = test
        .broker
        .publish(Route::Chunks, "lost", b"{}")
        .await
        .unwrap_err();
    match &error {
        Error::Unroutable {
            message_id,
            routing_key,
            reply_text,
            ..
        } => {
            assert_eq!(message_id, "lost");
            assert_eq!(routing_key, "chunks");
            assert_eq!(reply_text, "NO_ROUTE");
        }
        other => panic!("expected Unroutable, got {other:?}"),
    }
    assert!(!error.is_retryable());
    // Not retried until the publish timeout: unroutable is permanent.
    assert!(started.elapsed() < Duration::from_secs(2));

    // The failed publish dropped the connection, so the next one redeclares the
    // topology and goes through: a removed queue heals itself.
    let batch = [
        OutgoingMessage::new("a", "1"),
        OutgoingMessage::new("b", "2"),
    ];
    test.broker
        .publish_batch(Route::Chunks, &batch)
        .await
        .unwrap();
    assert_eq!(test.ready(&test.names().queue(Route::Chunks)).await, 2);
}
