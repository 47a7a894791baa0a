//! Fixtures shared by the store tests.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use hubsync_core::catalog::{TableSpec, standard_tables};
use hubsync_core::{
    ChunkRange, ConnectionId, Field, FieldType, ModifiedRange, PropertyName, RunKind, TableName,
};
use hubsync_store::{
    Connection, CreatedRun, EncryptionKey, NewConnection, NewRun, SecretString, TableEntry,
    create_run, upsert_connection, upsert_tables,
};
use sqlx::PgConnection;

/// Files in `migrations/`.
pub const MIGRATIONS: usize = 1;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub fn key() -> EncryptionKey {
    EncryptionKey::from_bytes([42u8; 32])
}

pub fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).unwrap()
}

pub fn scopes(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

pub fn new_connection(hub_id: u64, token: &str) -> NewConnection {
    NewConnection {
        hub_id,
        client_id: "client-1".to_owned(),
        refresh_token: SecretString::from(token),
        granted_scopes: scopes(&["crm.objects.deals.read", "crm.objects.companies.read"]),
        schema_name: None,
    }
}

/// A connection with every standard table stored and available.
pub async fn connection_with_tables(conn: &mut PgConnection, hub_id: u64) -> Connection {
    let connection = upsert_connection(conn, &new_connection(hub_id, "token"), &key())
        .await
        .unwrap();
    let entries: Vec<TableEntry> = standard_tables()
        .into_iter()
        .map(|spec| TableEntry {
            spec,
            available: true,
            skip_reason: None,
        })
        .collect();
    upsert_tables(conn, connection.id, &entries).await.unwrap();
    connection
}

pub fn spec(name: &TableName) -> TableSpec {
    hubsync_core::catalog::standard_table(name).unwrap()
}

pub fn property(name: &str) -> PropertyName {
    PropertyName::parse(name).unwrap()
}

/// A field as core's mapping would produce it.
pub fn field(name: &str, field_type: FieldType, hubspot_type: &str, multi: bool) -> Field {
    Field {
        name: property(name),
        label: name.replace('_', " "),
        field_type,
        multi,
        hubspot_type: hubspot_type.to_owned(),
        hubspot_field_type: if multi { "checkbox" } else { "text" }.to_owned(),
        options: Vec::new(),
        currency_property: None,
        calculated: false,
        hidden: false,
    }
}

pub fn window(start_ms: i64, end_ms: i64) -> ModifiedRange {
    ModifiedRange::from_millis(start_ms, end_ms).unwrap()
}

/// A run of `table` over `[start, end)` split into `parts` time chunks.
pub async fn run_with_chunks(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
    previous_watermark: Option<DateTime<Utc>>,
    start_ms: i64,
    end_ms: i64,
    parts: usize,
) -> CreatedRun {
    let window = window(start_ms, end_ms);
    let ranges: Vec<ChunkRange> = hubsync_core::range::split_time(window, parts)
        .into_iter()
        .map(ChunkRange::time)
        .collect();
    create_run(
        conn,
        &NewRun {
            connection_id,
            table: table.clone(),
            kind: RunKind::Incremental,
            window,
            previous_watermark,
        },
        &ranges,
    )
    .await
    .unwrap()
}
