//! Fixtures shared by the store tests.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use hubsync_core::catalog::standard_tables;
use hubsync_core::{
    ChunkRange, ConnectionId, Field, FieldType, ModifiedRange, PropertyName, RunKind, TableName,
};
use hubsync_store::{
    Connection, CreatedRun, EncryptionKey, NewConnection, NewRun, RecordRow, SecretString,
    TableEntry, create_run, upsert_connection, upsert_tables,
};
use sqlx::PgConnection;

/// Files in `migrations/`, counted on disk so the test does not trust the migrator's
/// own list.
pub fn migration_files() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .expect("migrations dir")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count()
}

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

/// A deal row from raw property text, typed by `fields` as the worker types it (the
/// worker's own mapping of names and times is tested in the worker).
pub fn parsed_deal(
    fields: &[Field],
    id: u64,
    modified_ms: i64,
    raw: serde_json::Value,
) -> RecordRow {
    let raw: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(raw).expect("an object of properties");
    let parsed = hubsync_core::parse_record(
        |name| fields.iter().find(|f| f.name.as_str() == name),
        raw.iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    );
    RecordRow {
        id,
        name: raw
            .get("dealname")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        currency: None,
        values: parsed.values,
        unparsed: parsed.unparsed,
        created_at: None,
        modified_at: at(modified_ms),
        deleted_at: None,
    }
}
