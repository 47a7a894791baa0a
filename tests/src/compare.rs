//! The store against the simulator's ground truth: records (ids, typed values through
//! the records table and through the typed views, raw text of unparsable values),
//! fields, associations of every join, and owners.
//!
//! Expected values come from the simulator's stored text parsed with core's rules for
//! the stored field's type, so a record equals the portal when every value is what the
//! sync must have made of HubSpot's text.

use std::collections::{BTreeMap, BTreeSet};

use chrono::DateTime;
use hubspot_sim::SimRecord;
use hubsync_core::{Field, PropertyName, SqlType, TableName, parse_value};
use hubsync_store::tables::StoredTable;
use hubsync_store::{StoredRecord, list_owners, list_records, list_tables, live_fields};
use serde_json::{Map, Value};

use crate::Env;

/// What one table held when it matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMatch {
    pub table: TableName,
    pub records: usize,
    pub fields: usize,
    pub associations: usize,
}

/// Asserts that every table that syncs (or the `only` ones) equals the portal, and
/// that the owners do. Returns what was compared, table by table.
pub async fn assert_matches_portal(env: &Env, only: Option<&[TableName]>) -> Vec<TableMatch> {
    let tables: Vec<StoredTable> = {
        let mut db = env.pool().acquire().await.expect("db");
        list_tables(&mut db, env.connection_id)
            .await
            .expect("tables")
    };
    let mut matches = Vec::new();
    for table in tables.iter().filter(|table| table.syncs()) {
        if only.is_some_and(|only| !only.contains(table.name())) {
            continue;
        }
        matches.push(assert_table_matches(env, table).await);
    }
    assert_owners_match(env).await;
    matches
}

/// Asserts one table equals the portal's.
pub async fn assert_table_matches(env: &Env, table: &StoredTable) -> TableMatch {
    table_matches(env, table, &|_| true).await
}

/// Asserts one table equals the portal's records that `keep` accepts (a table with a
/// custom query holds only those).
pub async fn assert_table_matches_where(
    env: &Env,
    name: &TableName,
    keep: impl Fn(&SimRecord) -> bool,
) -> TableMatch {
    let table = {
        let mut db = env.pool().acquire().await.expect("db");
        hubsync_store::require_table(&mut db, env.connection_id, name)
            .await
            .expect("table")
    };
    table_matches(env, &table, &keep).await
}

async fn table_matches(
    env: &Env,
    table: &StoredTable,
    keep: &dyn Fn(&SimRecord) -> bool,
) -> TableMatch {
    let name = table.name().clone();
    let spec = &table.spec;
    let control = env.control();
    let truth: BTreeMap<u64, SimRecord> = control
        .records(env.hub_id, &spec.object_type, false)
        .expect("simulator records")
        .into_iter()
        .filter(|record| keep(record))
        .map(|record| (record.id, record))
        .collect();
    let stored = stored_records(env, &name).await;

    let missing: Vec<&u64> = truth.keys().filter(|id| !stored.contains_key(id)).collect();
    let extra: Vec<&u64> = stored.keys().filter(|id| !truth.contains_key(id)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{name}: {} records missing from the store (e.g. {:?}), {} not in the portal (e.g. {:?})",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        extra.len(),
        extra.iter().take(5).collect::<Vec<_>>()
    );

    let fields = {
        let mut db = env.pool().acquire().await.expect("db");
        live_fields(&mut db, env.connection_id, &name)
            .await
            .expect("fields")
    };
    assert_fields_match(env, &name, &spec.object_type, &fields);

    let view = view_rows(env, &name).await;
    assert_eq!(
        view.len(),
        truth.len(),
        "{name}: the view has {} rows",
        view.len()
    );
    for (id, record) in &truth {
        let stored = &stored[id];
        let row = view
            .get(id)
            .unwrap_or_else(|| panic!("{name}: record {id} missing from the view"));
        for field in &fields {
            assert_value_matches(&name, *id, field, record, stored, row);
        }
        assert_eq!(
            row.get("_deleted_at"),
            Some(&Value::Null),
            "{name} {id}: deleted"
        );
    }

    let mut associations = 0;
    for join in &spec.joins {
        associations += assert_join_matches(env, table, join, &truth).await;
    }
    TableMatch {
        table: name,
        records: truth.len(),
        fields: fields.len(),
        associations,
    }
}

async fn stored_records(env: &Env, table: &TableName) -> BTreeMap<u64, StoredRecord> {
    let mut db = env.pool().acquire().await.expect("db");
    let mut records = BTreeMap::new();
    let mut after = None;
    loop {
        let page = list_records(&mut db, env.connection_id, table, after, 5_000)
            .await
            .expect("records");
        let Some(last) = page.last() else {
            return records;
        };
        after = Some(last.id);
        records.extend(page.into_iter().map(|record| (record.id, record)));
    }
}

/// The typed view's rows by id, each as the JSON Postgres makes of it.
async fn view_rows(env: &Env, table: &TableName) -> BTreeMap<u64, Map<String, Value>> {
    let schema: String =
        sqlx::query_scalar("SELECT schema_name FROM hubsync.connections WHERE id = $1")
            .bind(env.connection_id.as_uuid())
            .fetch_one(env.pool())
            .await
            .expect("schema name");
    // Both names passed the store's whitelists ([a-z0-9_]).
    let rows: Vec<(i64, Value)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT v.id, to_jsonb(v) FROM \"{schema}\".\"{table}\" v"
    )))
    .fetch_all(env.pool())
    .await
    .unwrap_or_else(|error| panic!("view {schema}.{table}: {error}"));
    rows.into_iter()
        .map(|(id, row)| {
            let Value::Object(row) = row else {
                panic!("a view row is an object")
            };
            (u64::try_from(id).expect("ids are positive"), row)
        })
        .collect()
}

fn assert_fields_match(env: &Env, table: &TableName, object_type: &str, fields: &[Field]) {
    let truth: BTreeSet<String> = env
        .control()
        .properties(env.hub_id, object_type)
        .expect("simulator properties")
        .into_iter()
        .filter(|definition| definition["archived"] != Value::Bool(true))
        .filter_map(|definition| definition["name"].as_str().map(str::to_owned))
        .filter(|name| PropertyName::parse(name).is_ok())
        .collect();
    let stored: BTreeSet<String> = fields.iter().map(|field| field.name.to_string()).collect();
    assert_eq!(
        stored, truth,
        "{table}: the fields differ from the portal's properties"
    );
}

fn assert_value_matches(
    table: &TableName,
    id: u64,
    field: &Field,
    truth: &SimRecord,
    stored: &StoredRecord,
    view_row: &Map<String, Value>,
) {
    let name = field.name.as_str();
    let raw = truth.properties.get(name).map(String::as_str);
    let expected = parse_value(field, raw);
    let stored_value = stored.values.get(name).cloned().unwrap_or(Value::Null);
    let column = field.name.column_name();
    let view_value = view_row
        .get(column.as_ref())
        .cloned()
        .unwrap_or(Value::Null);
    if expected.unparsed {
        assert_eq!(
            stored_value,
            Value::Null,
            "{table} {id} {name}: unparsable value stored as typed"
        );
        assert_eq!(
            stored.unparsed.get(name),
            Some(&expected.value),
            "{table} {id} {name}: raw text of an unparsable value"
        );
        assert_eq!(view_value, Value::Null, "{table} {id} {name}: view");
        return;
    }
    assert!(
        same_json(&stored_value, &expected.value),
        "{table} {id} {name} ({:?}): stored {stored_value} but the portal's {raw:?} parses as {}",
        field.field_type,
        expected.value
    );
    assert!(
        same_typed(field.sql_type(), &view_value, &expected.value),
        "{table} {id} {name} ({}): view shows {view_value} but the portal's {raw:?} parses as {}",
        field.sql_type().as_sql(),
        expected.value
    );
}

/// JSON equality with numbers compared as numbers (`1.50` = `1.5`).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => same_number(x.as_f64(), y.as_f64()),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same_json(x, y))
        }
        _ => a == b,
    }
}

fn same_number(x: Option<f64>, y: Option<f64>) -> bool {
    match (x, y) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => false,
    }
}

/// A view value (what `to_jsonb` makes of the column) against the parsed value.
fn same_typed(sql_type: SqlType, view: &Value, expected: &Value) -> bool {
    if expected.is_null() || view.is_null() {
        return expected.is_null() && view.is_null();
    }
    match sql_type {
        SqlType::Timestamptz => match (view.as_str(), expected.as_str()) {
            (Some(view), Some(expected)) => {
                match (
                    DateTime::parse_from_rfc3339(view),
                    DateTime::parse_from_rfc3339(expected),
                ) {
                    (Ok(view), Ok(expected)) => view == expected,
                    _ => false,
                }
            }
            _ => false,
        },
        _ => same_json(view, expected),
    }
}

/// Asserts the associations of one join equal the portal's for the table's records;
/// returns how many there are.
/// An association as stored: from, to, type id, category, label.
type StoredLink = (u64, u64, i32, String, Option<String>);

async fn assert_join_matches(
    env: &Env,
    table: &StoredTable,
    join: &hubsync_core::Join,
    truth: &BTreeMap<u64, SimRecord>,
) -> usize {
    let name = table.name();
    let control = env.control();
    let (from_type, to_type) = (&table.spec.object_type, &join.to_object_type);
    // Each type id's category and label, as HubSpot describes the pair's types.
    let kinds: BTreeMap<u32, (String, Option<String>)> = control
        .association_types(env.hub_id, from_type, to_type)
        .expect("simulator association types")
        .into_iter()
        .map(|kind| (kind.type_id, (kind.category, kind.label)))
        .collect();
    let expected: BTreeSet<StoredLink> = control
        .associations(env.hub_id, from_type, to_type)
        .expect("simulator associations")
        .into_iter()
        .filter(|association| truth.contains_key(&association.from_id))
        .flat_map(|association| {
            association
                .type_ids
                .iter()
                .map(|type_id| {
                    let (category, label) = kinds[type_id].clone();
                    (
                        association.from_id,
                        association.to_id,
                        i32::try_from(*type_id).expect("type ids fit i32"),
                        category,
                        label,
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let rows: Vec<(i64, i64, i32, String, Option<String>)> = sqlx::query_as(
        "SELECT from_id, to_id, type_id, category, label FROM hubsync.associations
         WHERE connection_id = $1 AND from_table = $2 AND to_table = $3",
    )
    .bind(env.connection_id.as_uuid())
    .bind(name.as_str())
    .bind(join.to_table.as_str())
    .fetch_all(env.pool())
    .await
    .expect("stored associations");
    let stored: BTreeSet<StoredLink> = rows
        .into_iter()
        .map(|(from, to, kind, category, label)| (from as u64, to as u64, kind, category, label))
        .collect();
    let missing: Vec<_> = expected.difference(&stored).take(5).collect();
    let extra: Vec<_> = stored.difference(&expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{name} → {}: associations missing {missing:?}, not in the portal {extra:?} ({} expected, {} stored)",
        join.to_table,
        expected.len(),
        stored.len()
    );
    expected.len()
}

/// Asserts the stored owners are the portal's (active and archived).
pub async fn assert_owners_match(env: &Env) {
    let truth: BTreeSet<String> = env
        .control()
        .owners(env.hub_id)
        .expect("simulator owners")
        .into_iter()
        .filter_map(|owner| match &owner["id"] {
            Value::String(id) => Some(id.clone()),
            Value::Number(id) => Some(id.to_string()),
            _ => None,
        })
        .collect();
    let stored: BTreeSet<String> = {
        let mut db = env.pool().acquire().await.expect("db");
        list_owners(&mut db, env.connection_id)
            .await
            .expect("owners")
            .into_iter()
            .map(|owner| owner.id)
            .collect()
    };
    assert_eq!(stored, truth, "owners differ from the portal's");
}
