//! Typed views, one schema per connection (`hubspot_<hub_id>` by default): one view per
//! table named after it, plus `owners` and `associations`.
//!
//! A table's view has `id`, one typed column per live field (named by
//! `PropertyName::column_name()`), then `_deleted_at`, `_modified_at`, `_created_at`,
//! `_synced_at` and `_unparsed`. Views are dropped and created again in one
//! transaction, so a reader sees the old view or the new one, never a half-built one.
//!
//! View bodies cannot take bind parameters, so names are written into the SQL text;
//! see [`crate::names`] for why that is safe. Each cast is guarded by the JSON type (or,
//! for dates, the canonical text shape and a calendar check), so no cast can raise:
//! `values` holds only parsed values for the field's type when they were written, but
//! a retyped field still has rows written under its old type until they sync again,
//! and one bad row must not break every query on the view.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use hubsync_core::{ConnectionId, SqlType, TableName};
use sha2::{Digest, Sha256};
use sqlx::{Connection as _, Executor as _, PgConnection};
use uuid::Uuid;

use crate::associations::parse_table;
use crate::error::{Error, Result, sqlstate};
use crate::names::{SchemaName, quote_ident, quote_literal};

/// The system columns every table view ends with.
pub const SYSTEM_COLUMNS: &[&str] = &[
    "_deleted_at",
    "_modified_at",
    "_created_at",
    "_synced_at",
    "_unparsed",
];

/// The preferred names of the two helper views; a table with one of these names keeps
/// it, and the helper view then takes the name with a leading `_`.
pub const OWNERS_VIEW: &str = "owners";
pub const ASSOCIATIONS_VIEW: &str = "associations";

/// What [`rebuild_views`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewReport {
    pub schema: SchemaName,
    /// Every view (re)created, tables first.
    pub views: Vec<String>,
    /// Fields left out of a view because their column name is taken by a column of
    /// ours (`id` or a system column): (table, property).
    pub skipped_columns: Vec<(TableName, String)>,
}

/// Locks the connection (so concurrent rebuilds take turns) and returns its schema.
async fn lock_connection(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
) -> Result<SchemaName> {
    let schema: Option<String> = sqlx::query_scalar(
        "SELECT schema_name FROM hubsync.connections WHERE id = $1 FOR NO KEY UPDATE",
    )
    .bind(connection_id.as_uuid())
    .fetch_optional(&mut *conn)
    .await?;
    let schema = schema.ok_or_else(|| Error::ConnectionNotFound(connection_id.to_string()))?;
    SchemaName::parse(&schema).map_err(|error| Error::corrupt("schema name", error))
}

/// How long a rebuild waits for the views it replaces. Replacing a view takes an
/// exclusive lock on it, which waits for every query reading it (a BI report may run
/// for an hour), and every new query on it waits behind that request: without a bound
/// one long report would stall the sync and every reader of the view with it.
pub const VIEW_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Rebuilds every view of a connection (its tables', `owners`, `associations`) in one
/// transaction, creating the schema if needed. A view held by a long query for more
/// than [`VIEW_LOCK_TIMEOUT`] gives [`Error::ViewLocked`] and nothing changes.
pub async fn rebuild_views(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
) -> Result<ViewReport> {
    rebuild_views_within(conn, connection_id, VIEW_LOCK_TIMEOUT).await
}

/// [`rebuild_views`] waiting at most `lock_timeout` for each lock.
pub async fn rebuild_views_within(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    lock_timeout: Duration,
) -> Result<ViewReport> {
    let (mut tx, schema) = begin_rebuild(conn, connection_id, lock_timeout).await?;
    let definitions = view_definitions(&mut tx, connection_id).await?;
    for view in &definitions.views {
        replace_view(&mut tx, &schema, view).await?;
    }
    tx.commit().await?;
    Ok(ViewReport {
        schema,
        views: definitions
            .views
            .into_iter()
            .map(|view| view.name)
            .collect(),
        skipped_columns: definitions.skipped_columns,
    })
}

/// Whether any view of the connection is missing or differs from what
/// [`rebuild_views`] would create now: its fields changed since (a rebuild that failed,
/// or was never run), or the views were made by an older hubsync. Reads only.
///
/// Each view we create carries a digest of its definition in its comment, so a view
/// whose columns, casts or filter would change is found without parsing SQL back.
pub async fn views_outdated(conn: &mut PgConnection, connection_id: ConnectionId) -> Result<bool> {
    let schema: Option<String> =
        sqlx::query_scalar("SELECT schema_name FROM hubsync.connections WHERE id = $1")
            .bind(connection_id.as_uuid())
            .fetch_optional(&mut *conn)
            .await?;
    let schema = schema.ok_or_else(|| Error::ConnectionNotFound(connection_id.to_string()))?;
    let definitions = view_definitions(conn, connection_id).await?;
    let comments: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT c.relname::text, obj_description(c.oid, 'pg_class')
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind = 'v'",
    )
    .bind(&schema)
    .fetch_all(&mut *conn)
    .await?;
    let comments: HashMap<String, Option<String>> = comments.into_iter().collect();
    Ok(definitions.views.iter().any(|view| {
        comments.get(&view.name).and_then(Option::as_deref) != Some(view.marker().as_str())
    }))
}

/// Rebuilds the view of one table (after its fields changed), in one transaction.
/// Returns the properties left out because their column name is one of ours.
pub async fn rebuild_table_view(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
) -> Result<Vec<String>> {
    let (mut tx, schema) = begin_rebuild(conn, connection_id, VIEW_LOCK_TIMEOUT).await?;
    let mut fields = view_fields(&mut tx, connection_id, Some(table)).await?;
    let (view, skipped) = table_view(
        connection_id,
        table,
        fields.remove(table.as_str()).unwrap_or_default(),
    )?;
    replace_view(&mut tx, &schema, &view).await?;
    tx.commit().await?;
    Ok(skipped)
}

/// Opens a rebuild's transaction: lock waits bounded, the connection locked against a
/// concurrent rebuild, its schema there.
async fn begin_rebuild(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    lock_timeout: Duration,
) -> Result<(sqlx::Transaction<'_, sqlx::Postgres>, SchemaName)> {
    let mut tx = conn.begin().await?;
    set_lock_timeout(&mut tx, lock_timeout).await?;
    let schema = lock_connection(&mut tx, connection_id).await?;
    tx.execute(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {}",
        quote_ident(schema.as_str())
    )))
    .await?;
    Ok((tx, schema))
}

/// A live field as a view column: property, column and SQL type.
type ViewField = (String, String, String);

/// The live fields of a connection (or of one of its tables) by table, each table's
/// in column order: one query for every view.
async fn view_fields(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: Option<&TableName>,
) -> Result<HashMap<String, Vec<ViewField>>> {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT table_name, property_name, column_name, sql_type FROM hubsync.fields
         WHERE connection_id = $1 AND ($2::text IS NULL OR table_name = $2)
           AND archived_at IS NULL
         ORDER BY table_name, column_name",
    )
    .bind(connection_id.as_uuid())
    .bind(table.map(TableName::as_str))
    .fetch_all(&mut *conn)
    .await?;
    let mut by_table: HashMap<String, Vec<ViewField>> = HashMap::new();
    for (table, property, column, sql_type) in rows {
        by_table
            .entry(table)
            .or_default()
            .push((property, column, sql_type));
    }
    Ok(by_table)
}

/// Bounds lock waits for the rest of the current transaction.
async fn set_lock_timeout(conn: &mut PgConnection, timeout: Duration) -> Result<()> {
    sqlx::query("SELECT set_config('lock_timeout', $1, true)")
        .bind(format!("{}ms", timeout.as_millis().max(1)))
        .execute(conn)
        .await?;
    Ok(())
}

/// One view as it should be.
struct ViewDefinition {
    name: String,
    /// The `SELECT` it stands for.
    body: String,
}

impl ViewDefinition {
    /// The comment the view carries: a digest of its definition.
    fn marker(&self) -> String {
        let digest = Sha256::digest(self.body.as_bytes());
        let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        format!("hubsync view {hex}")
    }
}

/// Every view of a connection as it should be now.
struct ViewDefinitions {
    /// Tables first, then `owners` and `associations`.
    views: Vec<ViewDefinition>,
    skipped_columns: Vec<(TableName, String)>,
}

async fn view_definitions(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
) -> Result<ViewDefinitions> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT table_name FROM hubsync.tables WHERE connection_id = $1 ORDER BY table_name",
    )
    .bind(connection_id.as_uuid())
    .fetch_all(&mut *conn)
    .await?;
    let tables = names
        .iter()
        .map(|name| parse_table(name))
        .collect::<Result<Vec<TableName>>>()?;
    let mut fields = view_fields(conn, connection_id, None).await?;
    let mut definitions = ViewDefinitions {
        views: Vec::with_capacity(tables.len() + 2),
        skipped_columns: Vec::new(),
    };
    for table in &tables {
        let table_fields = fields.remove(table.as_str()).unwrap_or_default();
        let (view, skipped) = table_view(connection_id, table, table_fields)?;
        definitions.views.push(view);
        definitions.skipped_columns.extend(
            skipped
                .into_iter()
                .map(|property| (table.clone(), property)),
        );
    }
    let taken: BTreeSet<&str> = tables.iter().map(|t| t.as_str()).collect();
    definitions.views.push(ViewDefinition {
        name: helper_view_name(OWNERS_VIEW, &taken),
        body: owners_view_body(connection_id),
    });
    definitions.views.push(ViewDefinition {
        name: helper_view_name(ASSOCIATIONS_VIEW, &taken),
        body: associations_view_body(connection_id),
    });
    Ok(definitions)
}

fn helper_view_name(preferred: &str, tables: &BTreeSet<&str>) -> String {
    if tables.contains(preferred) {
        format!("_{preferred}")
    } else {
        preferred.to_owned()
    }
}

async fn replace_view(
    conn: &mut PgConnection,
    schema: &SchemaName,
    view: &ViewDefinition,
) -> Result<()> {
    let qualified = format!(
        "{}.{}",
        quote_ident(schema.as_str()),
        quote_ident(&view.name)
    );
    // No CASCADE: a user's own view on top of ours must not vanish silently; the
    // rebuild fails instead and says which object depends on it.
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP VIEW IF EXISTS {qualified}; CREATE VIEW {qualified} AS {}; COMMENT ON VIEW {qualified} IS {}",
        view.body,
        quote_literal(&view.marker())
    )))
    .await
    .map_err(|error| {
        let Some(database) = error.as_database_error() else {
            return Error::Database(error);
        };
        let code = database.code();
        if code.as_deref() == Some(sqlstate::LOCK_NOT_AVAILABLE) {
            return Error::ViewLocked {
                view: format!("{schema}.{}", view.name),
            };
        }
        if code.as_deref() != Some(sqlstate::DEPENDENT_OBJECTS_STILL_EXIST) {
            return Error::Database(error);
        }
        // Postgres names the dependent objects in the detail, not the message.
        let detail = database
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .and_then(|pg| pg.detail())
            .unwrap_or("other objects depend on it")
            .replace('\n', "; ");
        Error::ViewInUse {
            view: format!("{schema}.{}", view.name),
            detail,
        }
    })?;
    Ok(())
}

/// A table's view from its live fields (in column order), and the properties left out
/// of it.
fn table_view(
    connection_id: ConnectionId,
    table: &TableName,
    fields: Vec<ViewField>,
) -> Result<(ViewDefinition, Vec<String>)> {
    let mut columns = vec!["r.id".to_owned()];
    let mut used: BTreeSet<String> = SYSTEM_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    used.insert("id".to_owned());
    let mut skipped = Vec::new();
    for (property, column, sql_type) in fields {
        // Stored names passed core's whitelists on the way in; re-check, since they
        // are about to become SQL text.
        let property = hubsync_core::PropertyName::parse(&property)
            .map_err(|error| Error::corrupt("property name", error))?;
        if column != property.column_name() {
            return Err(Error::corrupt(
                "column name",
                format!("{column:?} is not the column of {property}"),
            ));
        }
        if !used.insert(column.clone()) {
            tracing::warn!(
                table = %table,
                property = %property,
                "property left out of the view: its column name is one of ours"
            );
            skipped.push(property.to_string());
            continue;
        }
        let sql_type = parse_sql_type(&sql_type)?;
        columns.push(format!(
            "{} AS {}",
            typed_value(property.as_str(), sql_type),
            quote_ident(&column)
        ));
    }
    columns.extend([
        "r.deleted_at AS _deleted_at".to_owned(),
        "r.modified_at AS _modified_at".to_owned(),
        "r.created_at AS _created_at".to_owned(),
        "r.synced_at AS _synced_at".to_owned(),
        "r.unparsed AS _unparsed".to_owned(),
    ]);
    let body = format!(
        "SELECT {}\nFROM hubsync.records r\nWHERE r.connection_id = {} AND r.table_name = {}",
        columns.join(",\n       "),
        uuid_literal(connection_id.as_uuid()),
        quote_literal(table.as_str()),
    );
    Ok((
        ViewDefinition {
            name: table.to_string(),
            body,
        },
        skipped,
    ))
}

fn parse_sql_type(text: &str) -> Result<SqlType> {
    [
        SqlType::Numeric,
        SqlType::Text,
        SqlType::TextArray,
        SqlType::Boolean,
        SqlType::Date,
        SqlType::Timestamptz,
    ]
    .into_iter()
    .find(|sql_type| sql_type.as_sql() == text)
    .ok_or_else(|| Error::corrupt("sql type", text))
}

/// The typed expression of one property of `r.values`.
fn typed_value(property: &str, sql_type: SqlType) -> String {
    let key = quote_literal(property);
    let json = format!("r.values -> {key}");
    let text = format!("(r.values ->> {key})");
    match sql_type {
        SqlType::Text => text,
        SqlType::Numeric | SqlType::Boolean => format!(
            "CASE WHEN jsonb_typeof({json}) = '{}' THEN {text}::{} END",
            sql_type.json_type(),
            sql_type.as_sql()
        ),
        SqlType::TextArray => format!(
            "CASE WHEN jsonb_typeof({json}) = 'array' THEN ARRAY(SELECT e.value FROM \
             jsonb_array_elements_text({json}) WITH ORDINALITY AS e(value, n) ORDER BY e.n) END"
        ),
        // Core writes `YYYY-MM-DD`. The shape alone does not make a date
        // (`2024-02-30`, `0000-01-01`), and a cast that raises would break every query
        // on the view, so the calendar is checked too; nested CASEs because Postgres
        // does not promise to evaluate an AND's operands in order.
        SqlType::Date => format!(
            "CASE WHEN {text} ~ '^\\d{{4}}-\\d{{2}}-\\d{{2}}$' THEN CASE WHEN {} THEN {text}::date END END",
            valid_calendar_date(&text)
        ),
        // Core writes RFC 3339 UTC with milliseconds; any RFC 3339 offset is accepted,
        // within what Postgres accepts (hours to 23, offsets to 15:59).
        SqlType::Timestamptz => format!(
            "CASE WHEN {text} ~ '^\\d{{4}}-\\d{{2}}-\\d{{2}}T\\d{{2}}:\\d{{2}}:\\d{{2}}(\\.\\d+)?(Z|[+-]\\d{{2}}:\\d{{2}})$' \
             THEN CASE WHEN {} AND substr({text}, 12, 2)::int <= 23 \
             AND substr({text}, 15, 2)::int <= 59 AND substr({text}, 18, 2)::int <= 59 \
             AND CASE WHEN right({text}, 1) = 'Z' THEN true \
             ELSE substr(right({text}, 6), 2, 2)::int <= 15 AND right({text}, 2)::int <= 59 END \
             THEN {text}::timestamptz END END",
            valid_calendar_date(&text)
        ),
    }
}

/// Whether the first ten characters of `text`, known to be `dddd-dd-dd`, are a date
/// Postgres accepts: year 1 or later, a real month, a day the month has.
fn valid_calendar_date(text: &str) -> String {
    let year = format!("substr({text}, 1, 4)::int");
    let month = format!("substr({text}, 6, 2)::int");
    let day = format!("substr({text}, 9, 2)::int");
    format!(
        "({year} >= 1 AND {month} BETWEEN 1 AND 12 AND {day} BETWEEN 1 AND \
         CASE WHEN {month} IN (4, 6, 9, 11) THEN 30 WHEN {month} = 2 THEN \
         CASE WHEN {year} % 4 = 0 AND ({year} % 100 <> 0 OR {year} % 400 = 0) THEN 29 ELSE 28 END \
         ELSE 31 END)"
    )
}

fn uuid_literal(id: Uuid) -> String {
    // A UUID's text form is hex digits and dashes.
    format!("{}::uuid", quote_literal(&id.to_string()))
}

fn owners_view_body(connection_id: ConnectionId) -> String {
    format!(
        "SELECT o.id, o.label AS name, o.email, o.first_name, o.last_name, o.user_id,
       o.user_id_including_inactive, o.owner_type AS type, o.archived, o.teams,
       o.created_at, o.updated_at, o.synced_at AS _synced_at
FROM hubsync.owners o
WHERE o.connection_id = {}",
        uuid_literal(connection_id.as_uuid())
    )
}

fn associations_view_body(connection_id: ConnectionId) -> String {
    format!(
        "SELECT a.from_table, a.from_id, a.to_table, a.to_id, a.type_id, a.category, a.label,
       a.synced_at AS _synced_at
FROM hubsync.associations a
WHERE a.connection_id = {}",
        uuid_literal(connection_id.as_uuid())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_are_guarded_by_json_type() {
        assert_eq!(
            typed_value("amount", SqlType::Numeric),
            "CASE WHEN jsonb_typeof(r.values -> 'amount') = 'number' THEN (r.values ->> 'amount')::numeric END"
        );
        assert_eq!(typed_value("x", SqlType::Text), "(r.values ->> 'x')");
        assert!(typed_value("d", SqlType::Date).contains("::date"));
    }

    #[test]
    fn helper_views_yield_to_tables() {
        let tables: BTreeSet<&str> = ["deals", "owners"].into_iter().collect();
        assert_eq!(helper_view_name(OWNERS_VIEW, &tables), "_owners");
        assert_eq!(helper_view_name(ASSOCIATIONS_VIEW, &tables), "associations");
    }
}
