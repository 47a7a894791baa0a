use std::time::Duration;

use hubsync_store::Error;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgPool};

use crate::common::TestResult;

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn serialization_failures_are_retryable_and_violations_are_not(pool: PgPool) -> TestResult {
    sqlx::query("CREATE TABLE skew (k int)")
        .execute(&pool)
        .await?;
    let (mut one, mut two) = (pool.acquire().await?, pool.acquire().await?);
    let mut t1 = one.begin().await?;
    let mut t2 = two.begin().await?;
    for tx in [&mut t1, &mut t2] {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            .execute(&mut **tx)
            .await?;
    }
    // Write skew: each reads what the other writes.
    sqlx::query("SELECT count(*) FROM skew WHERE k = 1")
        .execute(&mut *t1)
        .await?;
    sqlx::query("SELECT count(*) FROM skew WHERE k = 2")
        .execute(&mut *t2)
        .await?;
    sqlx::query("INSERT INTO skew VALUES (2)")
        .execute(&mut *t1)
        .await?;
    sqlx::query("INSERT INTO skew VALUES (1)")
        .execute(&mut *t2)
        .await?;
    t1.commit().await?;
    let failure = t2.commit().await.unwrap_err();
    let error = Error::from(failure);
    assert_eq!(error.sqlstate().as_deref(), Some("40001"));
    assert!(error.is_retryable());

    let violation = sqlx::query("INSERT INTO hubsync.connections (id, hub_id, schema_name, client_id, refresh_token_sealed) VALUES (gen_random_uuid(), -1, 'x', 'c', '')")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(!Error::from(violation).is_retryable());
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn an_exhausted_pool_is_retryable(
    _pool_options: PgPoolOptions,
    options: PgConnectOptions,
) -> TestResult {
    let small = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(200))
        .connect_with(options)
        .await?;
    let _held = small.acquire().await?;
    let error = Error::from(small.acquire().await.unwrap_err());
    assert!(error.is_retryable(), "{error:?}");
    Ok(())
}
