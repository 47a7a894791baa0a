use hubsync_queue::{Error, JobQueue, RequeueReport, Route};
use lapin::options::QueueDeleteOptions;

use crate::common::{TestBroker, WAIT, next_within, raw_channel, settings};

/// Publishes `ids` to chunks and dead-letters them all through a consumer.
async fn kill(test: &TestBroker, ids: &[&str]) {
    for id in ids {
        test.broker
            .publish(Route::Chunks, id, format!(r#"{{"id":"{id}"}}"#).as_bytes())
            .await
            .unwrap();
    }
    let (mut consumer, _shutdown) = test.consumer(Route::Chunks).await;
    for _ in ids {
        next_within(&mut consumer, WAIT)
            .await
            .unwrap()
            .nack_dead_letter()
            .await
            .unwrap();
    }
    consumer.close().await.unwrap();
    test.wait_ready(&test.names().dead_queue(Route::Chunks), ids.len() as u32)
        .await;
}

#[tokio::test]
async fn requeue_moves_the_selected_dead_letters_back() {
    let test = TestBroker::new(settings(true)).await;
    let names = test.names();
    kill(&test, &["a", "b", "c", "d"]).await;

    let mut shown = Vec::new();
    let report = test
        .broker
        .requeue_dead(Route::Chunks, |letter| {
            shown.push((
                letter.message_id.clone(),
                letter.reason.clone(),
                letter.death_count,
            ));
            // A predicate on the payload, as `requeue --run` filters by run id.
            letter.payload == br#"{"id":"a"}"# || letter.message_id.as_deref() == Some("c")
        })
        .await
        .unwrap();
    assert_eq!(
        report,
        RequeueReport {
            requeued: 2,
            kept: 2
        }
    );
    assert_eq!(shown.len(), 4);
    assert!(
        shown
            .iter()
            .all(|(_, reason, deaths)| reason.as_deref() == Some("rejected") && *deaths == 1),
        "{shown:?}"
    );
    test.wait_ready(&names.queue(Route::Chunks), 2).await;
    test.wait_ready(&names.dead_queue(Route::Chunks), 2).await;

    // They come back as published, with their history.
    let (mut consumer, _shutdown) = test.consumer(Route::Chunks).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let delivery = next_within(&mut consumer, WAIT).await.unwrap();
        assert_eq!(delivery.death_count(), 1);
        assert_eq!(delivery.content_type(), Some("application/json"));
        ids.push(delivery.message_id().unwrap().to_owned());
        delivery.ack().await.unwrap();
    }
    ids.sort();
    assert_eq!(ids, ["a", "c"]);
    consumer.close().await.unwrap();

    let rest = test
        .broker
        .requeue_dead(Route::Chunks, |_| true)
        .await
        .unwrap();
    assert_eq!(
        rest,
        RequeueReport {
            requeued: 2,
            kept: 0
        }
    );
    test.wait_ready(&names.dead_queue(Route::Chunks), 0).await;
    test.wait_ready(&names.queue(Route::Chunks), 2).await;
}

#[tokio::test]
async fn a_dead_letter_is_acked_only_after_its_republication_is_confirmed() {
    let test = TestBroker::new(settings(true)).await;
    let names = test.names();
    kill(&test, &["x"]).await;

    // Requeue declares the topology before reading, so break the route in between:
    // the filter deletes the work queue, and republishing the letter is unroutable.
    let chunks = names.queue(Route::Chunks);
    let error = test
        .broker
        .requeue_dead(Route::Chunks, |_| {
            delete_queue_blocking(&chunks);
            true
        })
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Unroutable { .. }), "{error:?}");
    // Not confirmed, so not acked: the dead letter is still there.
    test.wait_ready(&names.dead_queue(Route::Chunks), 1).await;
}

/// Deletes `queue` from synchronous code (a requeue filter), on a thread of its own.
fn delete_queue_blocking(queue: &str) {
    let queue = queue.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (_connection, channel) = raw_channel().await;
            channel
                .queue_delete(queue.into(), QueueDeleteOptions::default())
                .await
                .unwrap();
        });
    })
    .join()
    .unwrap();
}
