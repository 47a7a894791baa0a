//! A database of one's own: created with a random name through the admin connection,
//! migrated, dropped at the end (or by the guard when a test panics).

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

/// The server every test shares (`DATABASE_URL`).
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://hubsync:hubsync@127.0.0.1:5432/hubsync".to_owned())
}

/// A migrated database that exists for one test.
pub struct TestDatabase {
    pub pool: PgPool,
    pub name: String,
    guard: Option<DropGuard>,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let name = format!(
            "hubsync_e2e_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        );
        let admin: PgConnectOptions = admin_url().parse().expect("DATABASE_URL parses");
        let mut conn = PgConnection::connect_with(&admin)
            .await
            .expect("admin connection");
        // The name is ours (hex digits), so it needs no escaping.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        conn.close().await.ok();
        let options = admin.database(&name).application_name("hubsync-e2e");
        let pool = PgPoolOptions::new()
            .max_connections(24)
            .connect_with(options)
            .await
            .expect("test database pool");
        hubsync_store::MIGRATOR
            .run(&pool)
            .await
            .expect("migrations");
        Self {
            pool,
            guard: Some(DropGuard { name: name.clone() }),
            name,
        }
    }

    /// Closes the pool and drops the database.
    pub async fn drop_database(mut self) {
        self.pool.close().await;
        if let Some(guard) = self.guard.take() {
            drop_now(&guard.name).await;
            std::mem::forget(guard);
        }
    }
}

async fn drop_now(name: &str) {
    let admin: PgConnectOptions = admin_url().parse().expect("DATABASE_URL parses");
    let mut conn = PgConnection::connect_with(&admin)
        .await
        .expect("admin connection");
    // FORCE ends the sessions a killed role may have left (PostgreSQL 13+).
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .expect("drop database");
    conn.close().await.ok();
}

/// Drops the database when a test panicked before its cleanup.
struct DropGuard {
    name: String,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop cannot await, and the test's runtime may be unwinding: use a thread
        // with its own runtime.
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(drop_now(&name));
            }
        })
        .join();
    }
}
