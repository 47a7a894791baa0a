//! Fields: a table's properties with their mapped types. Replacing the set reports what
//! changed, so the typed view is rebuilt only when its shape changed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use hubsync_core::metadata::PropertyDefinition;
use hubsync_core::{ConnectionId, Field, PropertyName, TableName};
use serde_json::{Value, json};
use sqlx::types::Json;
use sqlx::{Connection as _, PgConnection};

use crate::error::{Error, Result};

/// A stored field; `archived_at` is set once the property vanished from HubSpot.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredField {
    pub field: Field,
    pub column_name: String,
    pub archived_at: Option<DateTime<Utc>>,
}

/// What [`replace_fields`] changed, by property.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldChanges {
    /// New properties.
    pub added: Vec<PropertyName>,
    /// Known properties whose definition changed (label, options, type, …).
    pub updated: Vec<PropertyName>,
    /// Of `updated` and `restored`: those whose column type changed.
    pub retyped: Vec<PropertyName>,
    /// Properties that vanished and are now archived.
    pub archived: Vec<PropertyName>,
    /// Archived properties that came back.
    pub restored: Vec<PropertyName>,
}

impl FieldChanges {
    /// Anything at all changed.
    pub fn changed(&self) -> bool {
        !(self.added.is_empty()
            && self.updated.is_empty()
            && self.archived.is_empty()
            && self.restored.is_empty())
    }

    /// The view's columns changed: a column appears, vanishes or changes type.
    pub fn view_changed(&self) -> bool {
        !(self.added.is_empty()
            && self.archived.is_empty()
            && self.restored.is_empty()
            && self.retyped.is_empty())
    }
}

#[derive(sqlx::FromRow)]
struct ExistingRow {
    property_name: String,
    field: Json<Value>,
    sql_type: String,
    archived_at: Option<DateTime<Utc>>,
}

struct Existing {
    field: Option<Field>,
    sql_type: String,
    archived: bool,
}

/// Replaces a table's field set with `fields` (mapped by core from the table's
/// property definitions): new fields are inserted, changed ones updated, vanished ones
/// marked archived. `definitions` are HubSpot's raw definitions, stored beside the
/// field of the same name (any may be missing). Duplicate names: the first wins.
pub async fn replace_fields(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
    fields: &[Field],
    definitions: &[PropertyDefinition],
) -> Result<FieldChanges> {
    let mut tx = conn.begin().await?;
    // Locks the table row so two planners refreshing one table take turns. NO KEY
    // UPDATE, not UPDATE: the key-share locks of workers' record inserts (foreign key
    // to this row) must not wait for a metadata refresh.
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM hubsync.tables WHERE connection_id = $1 AND table_name = $2 FOR NO KEY UPDATE",
    )
    .bind(connection_id.as_uuid())
    .bind(table.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    if found.is_none() {
        return Err(Error::TableNotFound {
            connection_id,
            table: table.clone(),
        });
    }

    let rows: Vec<ExistingRow> = sqlx::query_as(
        "SELECT property_name, field, sql_type, archived_at FROM hubsync.fields
         WHERE connection_id = $1 AND table_name = $2",
    )
    .bind(connection_id.as_uuid())
    .bind(table.as_str())
    .fetch_all(&mut *tx)
    .await?;
    let existing: BTreeMap<String, Existing> = rows
        .into_iter()
        .map(|row| {
            (
                row.property_name,
                Existing {
                    // A row that no longer reads as a Field counts as changed.
                    field: serde_json::from_value(row.field.0).ok(),
                    sql_type: row.sql_type,
                    archived: row.archived_at.is_some(),
                },
            )
        })
        .collect();
    let definitions: BTreeMap<&str, &PropertyDefinition> = definitions
        .iter()
        .map(|definition| (definition.name.as_str(), definition))
        .collect();

    let mut changes = FieldChanges::default();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut records: Vec<Value> = Vec::with_capacity(fields.len());
    for field in fields {
        let name = field.name.as_str();
        if !seen.insert(name) {
            continue;
        }
        let sql_type = field.sql_type().as_sql();
        match existing.get(name) {
            None => changes.added.push(field.name.clone()),
            Some(old) => {
                let retyped = old.sql_type != sql_type;
                if old.archived {
                    changes.restored.push(field.name.clone());
                } else if old.field.as_ref() != Some(field) {
                    changes.updated.push(field.name.clone());
                }
                if retyped {
                    changes.retyped.push(field.name.clone());
                }
            }
        }
        records.push(json!({
            "property_name": name,
            "column_name": field.name.column_name(),
            "label": field.label,
            "field_type": field.field_type.as_str(),
            "sql_type": sql_type,
            "multi": field.multi,
            "hubspot_type": field.hubspot_type,
            "hubspot_field_type": field.hubspot_field_type,
            "options": field.options,
            "currency_property": field.currency_property.as_ref().map(|p| p.as_str()),
            "calculated": field.calculated,
            "hidden": field.hidden,
            "field": field,
            "definition": definitions.get(name),
        }));
    }

    // One statement for the whole set; rows whose content is unchanged are not
    // rewritten.
    sqlx::query(
        "INSERT INTO hubsync.fields AS f
             (connection_id, table_name, property_name, column_name, label, field_type,
              sql_type, multi, hubspot_type, hubspot_field_type, options, currency_property,
              calculated, hidden, field, definition)
         SELECT $1, $2, x.property_name, x.column_name, x.label, x.field_type, x.sql_type,
                x.multi, x.hubspot_type, x.hubspot_field_type, COALESCE(x.options, '[]'),
                x.currency_property, x.calculated, x.hidden, x.field,
                NULLIF(x.definition, 'null'::jsonb)
         FROM jsonb_to_recordset($3) AS x(
             property_name text, column_name text, label text, field_type text, sql_type text,
             multi boolean, hubspot_type text, hubspot_field_type text, options jsonb,
             currency_property text, calculated boolean, hidden boolean, field jsonb,
             definition jsonb)
         ON CONFLICT (connection_id, table_name, property_name) DO UPDATE SET
             column_name = excluded.column_name,
             label = excluded.label,
             field_type = excluded.field_type,
             sql_type = excluded.sql_type,
             multi = excluded.multi,
             hubspot_type = excluded.hubspot_type,
             hubspot_field_type = excluded.hubspot_field_type,
             options = excluded.options,
             currency_property = excluded.currency_property,
             calculated = excluded.calculated,
             hidden = excluded.hidden,
             field = excluded.field,
             definition = excluded.definition,
             archived_at = NULL,
             updated_at = now()
         WHERE f.field IS DISTINCT FROM excluded.field
            OR f.definition IS DISTINCT FROM excluded.definition
            OR f.archived_at IS NOT NULL",
    )
    .bind(connection_id.as_uuid())
    .bind(table.as_str())
    .bind(Json(Value::Array(records)))
    .execute(&mut *tx)
    .await?;

    let live: Vec<&str> = seen.into_iter().collect();
    let archived: Vec<String> = sqlx::query_scalar(
        "UPDATE hubsync.fields SET archived_at = now(), updated_at = now()
         WHERE connection_id = $1 AND table_name = $2 AND archived_at IS NULL
           AND NOT (property_name = ANY($3))
         RETURNING property_name",
    )
    .bind(connection_id.as_uuid())
    .bind(table.as_str())
    .bind(&live)
    .fetch_all(&mut *tx)
    .await?;
    for name in archived {
        changes.archived.push(
            PropertyName::parse(&name).map_err(|error| Error::corrupt("property name", error))?,
        );
    }
    changes.archived.sort();
    tx.commit().await?;
    Ok(changes)
}

/// Every field of a table, archived ones included, by property name.
pub async fn list_fields(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
) -> Result<Vec<StoredField>> {
    let rows: Vec<(Json<Field>, String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT field, column_name, archived_at FROM hubsync.fields
         WHERE connection_id = $1 AND table_name = $2 ORDER BY property_name",
    )
    .bind(connection_id.as_uuid())
    .bind(table.as_str())
    .fetch_all(conn)
    .await
    .map_err(|error| match error {
        sqlx::Error::ColumnDecode { source, .. } => Error::corrupt("field", source),
        other => Error::Database(other),
    })?;
    Ok(rows
        .into_iter()
        .map(|(Json(field), column_name, archived_at)| StoredField {
            field,
            column_name,
            archived_at,
        })
        .collect())
}

/// The live (not archived) fields of a table: what the worker requests and parses.
pub async fn live_fields(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    table: &TableName,
) -> Result<Vec<Field>> {
    Ok(list_fields(conn, connection_id, table)
        .await?
        .into_iter()
        .filter(|stored| stored.archived_at.is_none())
        .map(|stored| stored.field)
        .collect())
}
