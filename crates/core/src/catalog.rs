//! The table catalog: which HubSpot objects hubsync copies, as data, and which of them a
//! connection may sync given the scopes it was granted and the portal's custom objects.
//!
//! Owners are synced too, but they are metadata for user fields, not a table of the
//! catalog; [`owners_available`] says whether their scope was granted.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{PropertyName, TableName};
use crate::metadata::ObjectSchema;

/// The scopes an install must grant: hubsync cannot do its job without them. `oauth`
/// is part of every HubSpot app's install request.
pub const INSTALL_SCOPES_REQUIRED: &[&str] = &[
    "oauth",
    "crm.objects.companies.read",
    "crm.objects.contacts.read",
    "crm.objects.deals.read",
    "crm.objects.owners.read",
    "crm.schemas.companies.read",
    "crm.schemas.contacts.read",
    "crm.schemas.deals.read",
];

/// Scopes asked as `optional_scope`: HubSpot gates them by subscription tier and drops
/// them silently when the portal lacks the feature, instead of failing the install. The
/// tables they unlock (custom objects, goals, line items) follow what was granted.
pub const INSTALL_SCOPES_OPTIONAL: &[&str] = &[
    "crm.objects.custom.read",
    "crm.schemas.custom.read",
    "crm.objects.goals.read",
    "e-commerce",
];

/// Scopes that unlock owners (`GET /crm/v3/owners`); any one suffices (API.md §1.7).
pub const OWNER_SCOPES: &[&str] = &["crm.objects.owners.read", "automation"];

/// A standard HubSpot object or a portal's custom object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    Standard,
    Custom,
}

/// One join of a table: the associations from its records to another table's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    /// Our table on the other side.
    pub to_table: TableName,
    /// HubSpot's object type for the "to" side of the associations API
    /// (`/crm/v4/associations/{from}/{to}/batch/read`): a plural name or `2-…` id.
    pub to_object_type: String,
}

/// A set of scopes of which any one suffices (HubSpot's OpenAPI lists alternatives).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScopeAlternatives(pub Vec<String>);

impl ScopeAlternatives {
    fn of(scopes: &[&str]) -> Self {
        Self(scopes.iter().map(|s| (*s).to_owned()).collect())
    }

    /// Whether one of the alternatives is in `granted`.
    pub fn satisfied_by(&self, granted: &BTreeSet<String>) -> bool {
        self.0.iter().any(|scope| granted.contains(scope))
    }
}

impl fmt::Display for ScopeAlternatives {
    /// `scope a` or `one of the scopes a, b` — the words of a left-out reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [single] => write!(f, "scope {single}"),
            many => write!(f, "one of the scopes {}", many.join(", ")),
        }
    }
}

/// Everything hubsync needs to know about one table to sync it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSpec {
    /// Our name (the SQL table/view name part).
    pub name: TableName,
    /// A human label: "Deals", "Line items", a custom object's plural label.
    pub label: String,
    pub kind: TableKind,
    /// HubSpot's object type in API paths: `deals`, `goal_targets`, or a custom object's
    /// `objectTypeId` (`2-…`, stable where `p_name` is not).
    pub object_type: String,
    /// HubSpot's object type id: `0-3` for deals, `2-…` for custom objects.
    pub object_type_id: String,
    /// The property shown as the record's name.
    pub name_property: PropertyName,
    /// The property holding the record's ISO currency code, if the table has one.
    /// Money properties map to `Amount` only on tables with a currency field.
    pub currency_property: Option<PropertyName>,
    /// The search cursor: `lastmodifieddate` for contacts, `hs_lastmodifieddate` for
    /// every other object (filtering contacts by `hs_lastmodifieddate` loses records).
    pub last_modified_property: PropertyName,
    /// The creation time property: `createdate` or `hs_createdate`.
    pub created_property: PropertyName,
    pub joins: Vec<Join>,
    /// Every entry must be satisfied; within an entry any one scope suffices.
    pub required_scopes: Vec<ScopeAlternatives>,
    /// Optional tables are skipped (with a reason) rather than failing a connection
    /// when their scopes are missing; HubSpot gates them by subscription tier.
    pub optional: bool,
}

impl TableSpec {
    /// The first requirement `granted` does not meet, if any.
    pub fn missing_scope(&self, granted: &BTreeSet<String>) -> Option<&ScopeAlternatives> {
        first_unmet(&self.required_scopes, granted)
    }
}

/// The first of `requirements` that `granted` does not meet, if any: the one a left-out
/// reason names.
fn first_unmet<'a>(
    requirements: &'a [ScopeAlternatives],
    granted: &BTreeSet<String>,
) -> Option<&'a ScopeAlternatives> {
    requirements
        .iter()
        .find(|alternatives| !alternatives.satisfied_by(granted))
}

/// What the standard tables look like; kept as data so a new table is one entry.
struct StandardTable {
    name: TableName,
    label: &'static str,
    object_type: &'static str,
    object_type_id: &'static str,
    name_property: &'static str,
    currency_property: Option<&'static str>,
    created_property: &'static str,
    joins: &'static [(TableName, &'static str)],
    scopes: &'static [&'static [&'static str]],
    optional: bool,
}

/// Engagements (meetings, calls, tasks, emails) are unlocked by the contacts scope; the
/// newer granular scopes are listed as alternatives (API.md §1.7).
const STANDARD_TABLES: &[StandardTable] = &[
    StandardTable {
        name: TableName::DEALS,
        label: "Deals",
        object_type: "deals",
        object_type_id: "0-3",
        name_property: "dealname",
        currency_property: Some("deal_currency_code"),
        created_property: "createdate",
        joins: &[
            (TableName::COMPANIES, "companies"),
            (TableName::CONTACTS, "contacts"),
        ],
        scopes: &[&["crm.objects.deals.read"]],
        optional: false,
    },
    StandardTable {
        name: TableName::COMPANIES,
        label: "Companies",
        object_type: "companies",
        object_type_id: "0-2",
        name_property: "name",
        currency_property: None,
        created_property: "createdate",
        joins: &[],
        scopes: &[&["crm.objects.companies.read"]],
        optional: false,
    },
    StandardTable {
        name: TableName::LINE_ITEMS,
        label: "Line items",
        object_type: "line_items",
        object_type_id: "0-8",
        name_property: "name",
        currency_property: Some("hs_line_item_currency_code"),
        created_property: "createdate",
        joins: &[(TableName::DEALS, "deals")],
        scopes: &[&["crm.objects.line_items.read", "e-commerce"]],
        optional: false,
    },
    StandardTable {
        name: TableName::MEETINGS,
        label: "Meetings",
        object_type: "meetings",
        object_type_id: "0-47",
        name_property: "hs_meeting_title",
        currency_property: None,
        created_property: "hs_createdate",
        joins: &[
            (TableName::COMPANIES, "companies"),
            (TableName::DEALS, "deals"),
        ],
        scopes: &[&["crm.objects.contacts.read", "crm.objects.meetings.read"]],
        optional: false,
    },
    StandardTable {
        name: TableName::CALLS,
        label: "Calls",
        object_type: "calls",
        object_type_id: "0-48",
        name_property: "hs_call_title",
        currency_property: None,
        created_property: "hs_createdate",
        joins: &[],
        scopes: &[&["crm.objects.contacts.read", "crm.objects.calls.read"]],
        optional: false,
    },
    StandardTable {
        name: TableName::EMAILS,
        label: "Emails",
        object_type: "emails",
        object_type_id: "0-49",
        name_property: "hs_email_subject",
        currency_property: None,
        created_property: "hs_createdate",
        joins: &[],
        scopes: &[&["crm.objects.contacts.read", "sales-email-read"]],
        optional: false,
    },
    StandardTable {
        name: TableName::TASKS,
        label: "Tasks",
        object_type: "tasks",
        object_type_id: "0-27",
        name_property: "hs_task_subject",
        currency_property: None,
        created_property: "hs_createdate",
        joins: &[],
        scopes: &[&["crm.objects.contacts.read", "crm.objects.tasks.read"]],
        optional: false,
    },
    StandardTable {
        name: TableName::CONTACTS,
        label: "Contacts",
        object_type: "contacts",
        object_type_id: "0-1",
        name_property: "email",
        currency_property: None,
        created_property: "createdate",
        joins: &[
            (TableName::COMPANIES, "companies"),
            (TableName::MEETINGS, "meetings"),
        ],
        scopes: &[&["crm.objects.contacts.read"]],
        optional: false,
    },
    StandardTable {
        name: TableName::GOALS,
        label: "Goals",
        object_type: "goal_targets",
        object_type_id: "0-74",
        name_property: "hs_goal_name",
        currency_property: None,
        created_property: "hs_createdate",
        joins: &[],
        scopes: &[&["crm.objects.goals.read"]],
        optional: true,
    },
];

/// Custom object records need `crm.objects.custom.read`; their schemas (and so the
/// table's existence) need `crm.schemas.custom.read` or `crm.objects.custom.read`
/// (API.md §1.7), so the records scope alone unlocks custom tables and
/// `crm.schemas.custom.read` alone does not. Records come first so that a connection
/// with neither is told the one scope that suffices.
const CUSTOM_SCOPES: &[&[&str]] = &[
    &["crm.objects.custom.read"],
    &["crm.schemas.custom.read", "crm.objects.custom.read"],
];

/// The standard tables, in a fixed order (the product's list).
pub fn standard_tables() -> Vec<TableSpec> {
    STANDARD_TABLES.iter().map(standard_spec).collect()
}

/// The spec of one standard table by our name.
pub fn standard_table(name: &TableName) -> Option<TableSpec> {
    STANDARD_TABLES
        .iter()
        .find(|table| &table.name == name)
        .map(standard_spec)
}

fn standard_spec(table: &StandardTable) -> TableSpec {
    TableSpec {
        name: table.name.clone(),
        label: table.label.to_owned(),
        kind: TableKind::Standard,
        object_type: table.object_type.to_owned(),
        object_type_id: table.object_type_id.to_owned(),
        name_property: known_property(table.name_property),
        currency_property: table.currency_property.map(known_property),
        last_modified_property: if table.name == TableName::CONTACTS {
            PropertyName::LASTMODIFIEDDATE
        } else {
            PropertyName::HS_LASTMODIFIEDDATE
        },
        created_property: known_property(table.created_property),
        joins: table
            .joins
            .iter()
            .map(|(to_table, to_object_type)| Join {
                to_table: to_table.clone(),
                to_object_type: (*to_object_type).to_owned(),
            })
            .collect(),
        required_scopes: table
            .scopes
            .iter()
            .map(|alternatives| ScopeAlternatives::of(alternatives))
            .collect(),
        optional: table.optional,
    }
}

/// The constants above are `[a-z_]` literals; a typo would fail every catalog test.
fn known_property(name: &'static str) -> PropertyName {
    match PropertyName::parse(name) {
        Ok(property) => property,
        Err(error) => unreachable!("catalog constant {name:?} is not a property name: {error}"),
    }
}

/// A table (or group of tables) left out of a connection's sync, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOut {
    /// The table, when one specific table is meant.
    pub table: Option<TableName>,
    /// What is left out, in an admin's words: `goals`, `custom tables`, `custom table cars`.
    pub subject: String,
    /// Why: `scope crm.objects.goals.read not granted`.
    pub reason: String,
}

impl fmt::Display for LeftOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.reason)
    }
}

/// The tables one connection syncs, and the ones it doesn't with their reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSelection {
    pub enabled: Vec<TableSpec>,
    pub left_out: Vec<LeftOut>,
}

impl TableSelection {
    /// The enabled table of this name.
    pub fn table(&self, name: &TableName) -> Option<&TableSpec> {
        self.enabled.iter().find(|table| &table.name == name)
    }
}

/// Whether owners can be read with these scopes; `Err` holds the left-out reason.
pub fn owners_available(granted: &BTreeSet<String>) -> Result<(), LeftOut> {
    let owner_scopes = ScopeAlternatives::of(OWNER_SCOPES);
    if owner_scopes.satisfied_by(granted) {
        Ok(())
    } else {
        Err(LeftOut {
            table: None,
            subject: "owners".to_owned(),
            reason: format!(
                "{owner_scopes} not granted; user fields will hold owner ids without names"
            ),
        })
    }
}

/// Decides the tables of a connection from its granted scopes and the portal's custom
/// object schemas (ignored when their scopes are missing).
///
/// Custom tables are named after the schema's `name`, sanitized; one that would clash
/// with a standard table or an earlier custom table gets its `objectTypeId` appended.
/// Joins to a table that is not enabled are dropped and reported.
pub fn select_tables(
    granted: &BTreeSet<String>,
    custom_schemas: &[ObjectSchema],
) -> TableSelection {
    let mut enabled = Vec::new();
    let mut left_out = Vec::new();

    for spec in standard_tables() {
        match spec.missing_scope(granted) {
            None => enabled.push(spec),
            Some(missing) => left_out.push(LeftOut {
                table: Some(spec.name.clone()),
                subject: spec.name.to_string(),
                reason: format!("{missing} not granted"),
            }),
        }
    }

    let custom_requirements: Vec<ScopeAlternatives> = CUSTOM_SCOPES
        .iter()
        .map(|alternatives| ScopeAlternatives::of(alternatives))
        .collect();
    match first_unmet(&custom_requirements, granted) {
        Some(missing) => left_out.push(LeftOut {
            table: None,
            subject: "custom tables".to_owned(),
            reason: format!("{missing} not granted"),
        }),
        None => {
            let mut schemas: Vec<&ObjectSchema> = custom_schemas.iter().collect();
            // Oldest first (type ids grow as objects are created), so a new custom
            // object never takes the name of a table that already exists.
            schemas.sort_by_key(|schema| {
                let number = schema
                    .object_type_id
                    .strip_prefix("2-")
                    .and_then(|digits| digits.parse::<u64>().ok());
                (number.unwrap_or(u64::MAX), schema.object_type_id.clone())
            });
            for schema in &schemas {
                match custom_spec(schema, &enabled, &custom_requirements) {
                    Ok(spec) => enabled.push(spec),
                    Err(reason) => left_out.push(LeftOut {
                        table: None,
                        subject: format!("custom table {}", schema.name),
                        reason,
                    }),
                }
            }
            // Joins once every table is known, so custom objects can join each other.
            let joins_by_type: Vec<(String, Vec<Join>)> = schemas
                .iter()
                .map(|schema| {
                    (
                        schema.object_type_id.clone(),
                        custom_joins(schema, &enabled),
                    )
                })
                .collect();
            for (object_type_id, joins) in joins_by_type {
                if let Some(spec) = enabled.iter_mut().find(|spec| {
                    spec.kind == TableKind::Custom && spec.object_type_id == object_type_id
                }) {
                    spec.joins = joins;
                }
            }
        }
    }

    let enabled_names: BTreeSet<TableName> = enabled.iter().map(|t| t.name.clone()).collect();
    for table in &mut enabled {
        let from = table.name.clone();
        table.joins.retain(|join| {
            let keep = enabled_names.contains(&join.to_table);
            if !keep {
                left_out.push(LeftOut {
                    table: Some(from.clone()),
                    subject: format!("join {from} → {}", join.to_table),
                    reason: format!("table {} is not synced", join.to_table),
                });
            }
            keep
        });
    }

    TableSelection { enabled, left_out }
}

fn custom_spec(
    schema: &ObjectSchema,
    taken: &[TableSpec],
    required_scopes: &[ScopeAlternatives],
) -> Result<TableSpec, String> {
    if schema.archived {
        return Err("the custom object is archived in HubSpot".to_owned());
    }
    if !schema.object_type_id.starts_with("2-") {
        return Err(format!(
            "unexpected object type id {:?} (custom objects have 2-…)",
            schema.object_type_id
        ));
    }
    let display = schema
        .primary_display_property
        .as_deref()
        .unwrap_or("hs_object_id");
    let name_property = PropertyName::parse(display)
        .map_err(|error| format!("its display property cannot be a column name ({error})"))?;

    let mut name = TableName::sanitize(&schema.name);
    if taken.iter().any(|spec| spec.name == name) {
        name = TableName::sanitize(&format!("{}_{}", schema.name, schema.object_type_id));
    }
    if taken.iter().any(|spec| spec.name == name) {
        return Err(format!("its name clashes with table {name}"));
    }

    Ok(TableSpec {
        name,
        label: schema
            .labels
            .plural
            .clone()
            .unwrap_or_else(|| schema.name.clone()),
        kind: TableKind::Custom,
        object_type: schema.object_type_id.clone(),
        object_type_id: schema.object_type_id.clone(),
        name_property,
        currency_property: None,
        last_modified_property: PropertyName::HS_LASTMODIFIEDDATE,
        created_property: PropertyName::HS_CREATEDATE,
        joins: Vec::new(),
        required_scopes: required_scopes.to_vec(),
        optional: true,
    })
}

/// The joins of a custom table: its schema's associations towards tables of the catalog
/// (standard or custom), once each. Associations to objects outside the catalog
/// (tickets, products, …) are not joins of ours.
fn custom_joins(schema: &ObjectSchema, tables: &[TableSpec]) -> Vec<Join> {
    let mut joins: Vec<Join> = Vec::new();
    for association in &schema.associations {
        if association.from_object_type_id != schema.object_type_id {
            continue;
        }
        let Some(target) = tables
            .iter()
            .find(|spec| spec.object_type_id == association.to_object_type_id)
        else {
            continue;
        };
        let join = Join {
            to_table: target.name.clone(),
            to_object_type: target.object_type.clone(),
        };
        if !joins.contains(&join) {
            joins.push(join);
        }
    }
    joins
}

#[cfg(test)]
mod tests;
