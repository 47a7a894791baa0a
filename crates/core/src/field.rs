//! Field types: how each HubSpot property maps to one of our seven types.
//!
//! | HubSpot `type` (`fieldType`)            | our type                                   |
//! |-----------------------------------------|--------------------------------------------|
//! | `number`, money, table has a currency   | `Amount` (with the currency property)      |
//! | `number`, otherwise                     | `Number`                                   |
//! | `enumeration` referencing `OWNER`       | `User` (multi for `checkbox`)              |
//! | `enumeration`, known owner-id lists     | `User`, multi ([`UNFLAGGED_OWNER_ID_PROPERTIES`]) |
//! | `enumeration`, otherwise                | `Picklist` (multi for `checkbox`)          |
//! | `date`                                  | `Date` (SQL `date`)                        |
//! | `datetime`                              | `Date` (SQL `timestamptz`)                 |
//! | `bool`                                  | `Bool`                                     |
//! | `string`                                | `String`                                   |
//! | `phone_number`                          | `String`: free text ("+1 (555) 010-99 ext 4") |
//! | `object_coordinates`                    | `String`: HubSpot-internal text            |
//! | `json`                                  | `String`: kept verbatim, not re-encoded    |
//! | anything new                            | `String`: the raw value is never lost      |
//!
//! The mapping goes by `type`, never by `fieldType`, because real portals pair them oddly
//! (`datetime` with `number`, `number` with `text`, `enumeration` with `booleancheckbox`);
//! `fieldType` only decides multi-selection (`checkbox`). Mapping never fails.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::TableSpec;
use crate::ids::{NameError, PropertyName};
use crate::metadata::{Owner, Pipeline, PropertyDefinition};

/// Our type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Money in the record's currency (the table's currency field).
    Amount,
    Number,
    /// An owner id (a HubSpot user or queue); owners give the name.
    User,
    String,
    /// A value from a list of options, which have labels.
    Picklist,
    Bool,
    /// A date or a point in time; [`Field::sql_type`] tells which.
    Date,
}

impl FieldType {
    /// The stable lowercase name (`amount`, `picklist`, …) used in storage and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Amount => "amount",
            FieldType::Number => "number",
            FieldType::User => "user",
            FieldType::String => "string",
            FieldType::Picklist => "picklist",
            FieldType::Bool => "bool",
            FieldType::Date => "date",
        }
    }
}

/// The SQL type of a field's column in the typed view.
///
/// In [`crate::value::ParsedRecord::values`] every value is null or valid for this type
/// (raw text of unparsed values is kept apart), so a plain cast never raises. A view
/// over documents written by other means can guard the cast with the JSON type:
/// `CASE WHEN jsonb_typeof(doc->'x') = 'number' THEN (doc->>'x')::numeric END`;
/// [`SqlType::json_type`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlType {
    Numeric,
    Text,
    TextArray,
    Boolean,
    Date,
    Timestamptz,
}

impl SqlType {
    /// The Postgres type name.
    pub fn as_sql(self) -> &'static str {
        match self {
            SqlType::Numeric => "numeric",
            SqlType::Text => "text",
            SqlType::TextArray => "text[]",
            SqlType::Boolean => "boolean",
            SqlType::Date => "date",
            SqlType::Timestamptz => "timestamptz",
        }
    }

    /// The `jsonb_typeof` of a parsed value of this type (dates and times are JSON
    /// strings in our canonical forms `YYYY-MM-DD` and RFC 3339 UTC).
    pub fn json_type(self) -> &'static str {
        match self {
            SqlType::Numeric => "number",
            SqlType::Boolean => "boolean",
            SqlType::TextArray => "array",
            SqlType::Text | SqlType::Date | SqlType::Timestamptz => "string",
        }
    }
}

/// One option of a picklist (or a user field: owner id and owner name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldOption {
    pub value: String,
    pub label: String,
    #[serde(default)]
    pub hidden: bool,
}

/// A HubSpot property as hubsync stores and reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: PropertyName,
    pub label: String,
    pub field_type: FieldType,
    /// A list of values (multi-select picklist, several owners); values are arrays.
    pub multi: bool,
    /// HubSpot's `type`, kept because it refines ours (`date` vs `datetime`).
    pub hubspot_type: String,
    /// HubSpot's `fieldType`.
    pub hubspot_field_type: String,
    /// The options with labels, for picklists and user fields (may be empty).
    pub options: Vec<FieldOption>,
    /// For amounts: the property holding the record's currency code.
    pub currency_property: Option<PropertyName>,
    pub calculated: bool,
    pub hidden: bool,
}

impl Field {
    /// The column type in the typed view.
    pub fn sql_type(&self) -> SqlType {
        if self.multi {
            return SqlType::TextArray;
        }
        match self.field_type {
            FieldType::Amount | FieldType::Number => SqlType::Numeric,
            FieldType::User | FieldType::String | FieldType::Picklist => SqlType::Text,
            FieldType::Bool => SqlType::Boolean,
            FieldType::Date if self.is_date_only() => SqlType::Date,
            FieldType::Date => SqlType::Timestamptz,
        }
    }

    /// A calendar date without a time (HubSpot `date`), as opposed to a point in time.
    pub fn is_date_only(&self) -> bool {
        self.field_type == FieldType::Date && self.hubspot_type == "date"
    }

    /// The label of an option value, if known.
    pub fn option_label(&self, value: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|option| option.value == value)
            .map(|option| option.label.as_str())
    }
}

/// Enumerations that hold owner ids but lack `referencedObjectType: "OWNER"` in HubSpot's
/// definitions; all of them are `;`-joined lists, even where `fieldType` says `select`
/// (deals `hs_all_owner_ids`). Source: the vendored property definitions and their
/// README. `hs_user_ids_of_all_owners`, `hs_created_by_user_id` and
/// `hs_updated_by_user_id` are deliberately absent: they hold *user* ids, not owner ids.
pub const UNFLAGGED_OWNER_ID_PROPERTIES: &[&str] = &[
    "hs_all_owner_ids",
    "hs_all_deal_split_owner_ids",
    "hs_attendee_owner_ids",
    "hs_at_mentioned_owner_ids",
    "hs_owner_ids_from",
    "hs_owner_ids_to",
    "hs_owner_ids_cc",
    "hs_owner_ids_bcc",
    "hs_task_sub_task_owner_ids",
    "hs_task_parent_task_owner_ids",
];

/// Enumerations holding team ids, whose labels come from the owners' teams.
const TEAM_ID_PROPERTIES: &[&str] = &[
    "hubspot_team_id",
    "hs_all_team_ids",
    "hs_all_accessible_team_ids",
    "hs_shared_team_ids",
    "hs_assignee_team_id",
    "hs_owning_teams",
];

/// Stage properties (`dealstage`, custom objects' `hs_pipeline_stage`) and pipeline
/// properties, whose options live in the pipelines API.
const STAGE_PROPERTIES: &[&str] = &["dealstage", "hs_pipeline_stage"];
const PIPELINE_PROPERTIES: &[&str] = &["pipeline", "hs_pipeline"];

/// What the mapping may consult besides the property itself: the table's pipelines and
/// the portal's owners (both may be empty when their scopes or endpoints are missing).
#[derive(Debug, Clone, Copy, Default)]
pub struct MappingContext<'a> {
    pub pipelines: &'a [Pipeline],
    pub owners: &'a [Owner],
}

/// A property that could not become a field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("property {name:?} is not usable as a column name: {source}")]
    BadName {
        name: String,
        #[source]
        source: NameError,
    },
}

/// The fields of a table, and the properties left out (only for unusable names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappedFields {
    pub fields: Vec<Field>,
    pub skipped: Vec<FieldError>,
}

/// Maps every property definition of a table; archived definitions are left out.
pub fn map_properties(
    table: &TableSpec,
    definitions: &[PropertyDefinition],
    context: MappingContext<'_>,
) -> MappedFields {
    let mut mapped = MappedFields::default();
    for definition in definitions.iter().filter(|d| !d.archived) {
        match map_property(table, definition, context) {
            Ok(field) => mapped.fields.push(field),
            Err(error) => mapped.skipped.push(error),
        }
    }
    mapped
}

/// Maps one property definition. The type mapping never fails; only a property name
/// that cannot be a column is refused.
pub fn map_property(
    table: &TableSpec,
    definition: &PropertyDefinition,
    context: MappingContext<'_>,
) -> Result<Field, FieldError> {
    let name = PropertyName::parse(&definition.name).map_err(|source| FieldError::BadName {
        name: definition.name.clone(),
        source,
    })?;
    let (field_type, multi) = classify(table, definition);
    let options = match field_type {
        FieldType::Picklist | FieldType::User => options_for(definition, field_type, context),
        _ => Vec::new(),
    };
    let currency_property = match field_type {
        FieldType::Amount => definition
            .currency_property_name
            .as_deref()
            .and_then(|name| PropertyName::parse(name).ok())
            .or_else(|| table.currency_property.clone()),
        _ => None,
    };
    Ok(Field {
        name,
        label: definition.label.clone(),
        field_type,
        multi,
        hubspot_type: definition.property_type.clone(),
        hubspot_field_type: definition.field_type.clone(),
        options,
        currency_property,
        calculated: definition.calculated,
        hidden: definition.hidden,
    })
}

/// Our type and multi flag for a definition; see the module table.
fn classify(table: &TableSpec, definition: &PropertyDefinition) -> (FieldType, bool) {
    let checkbox = definition.field_type == "checkbox";
    match definition.property_type.as_str() {
        "number" if is_money(definition) && table.currency_property.is_some() => {
            (FieldType::Amount, false)
        }
        "number" => (FieldType::Number, false),
        "enumeration" if is_owner_reference(definition) => (FieldType::User, checkbox),
        "enumeration" if UNFLAGGED_OWNER_ID_PROPERTIES.contains(&definition.name.as_str()) => {
            (FieldType::User, true)
        }
        "enumeration" => (FieldType::Picklist, checkbox),
        // The product's "user → user": no HubSpot read API documents a `user` type
        // today, but should one name it, its values are user references.
        "user" => (FieldType::User, checkbox),
        "date" | "datetime" => (FieldType::Date, false),
        "bool" => (FieldType::Bool, false),
        // string, phone_number, object_coordinates, json and any type HubSpot adds later:
        // text keeps every value as sent, so nothing is lost while we learn the new type.
        _ => (FieldType::String, false),
    }
}

/// HubSpot's money markers (API.md §8); any one of them suffices.
fn is_money(definition: &PropertyDefinition) -> bool {
    definition.show_currency_symbol == Some(true)
        || definition.number_display_hint.as_deref() == Some("currency")
        || definition
            .currency_property_name
            .as_deref()
            .is_some_and(|name| !name.is_empty())
}

fn is_owner_reference(definition: &PropertyDefinition) -> bool {
    definition
        .referenced_object_type
        .as_deref()
        .is_some_and(|referenced| referenced.eq_ignore_ascii_case("OWNER"))
}

/// The options of a picklist or user field: HubSpot's own options when it sent some,
/// else those of the owners, pipelines or teams the property is known by name (or, for
/// user fields, by type) to refer to. `externalOptions` is not consulted: the name
/// alone says where the options live.
fn options_for(
    definition: &PropertyDefinition,
    field_type: FieldType,
    context: MappingContext<'_>,
) -> Vec<FieldOption> {
    let own = || {
        definition
            .options
            .iter()
            .map(|option| FieldOption {
                value: option.value.clone(),
                label: option.label.clone(),
                hidden: option.hidden,
            })
            .collect::<Vec<_>>()
    };
    let name = definition.name.as_str();
    // `lifecyclestage` is external *and* carries its options; prefer what HubSpot sent.
    if !definition.options.is_empty() && field_type != FieldType::User {
        return own();
    }
    if field_type == FieldType::User {
        return owner_options(context.owners);
    }
    if STAGE_PROPERTIES.contains(&name) {
        return stage_options(context.pipelines);
    }
    if PIPELINE_PROPERTIES.contains(&name) {
        return context
            .pipelines
            .iter()
            .map(|pipeline| FieldOption {
                value: pipeline.id.clone(),
                label: pipeline.label.clone(),
                hidden: pipeline.archived,
            })
            .collect();
    }
    if TEAM_ID_PROPERTIES.contains(&name) {
        return team_options(context.owners);
    }
    own()
}

/// Stage ids are unique across an object's pipelines; the first label wins if not.
fn stage_options(pipelines: &[Pipeline]) -> Vec<FieldOption> {
    let mut options: Vec<FieldOption> = Vec::new();
    for pipeline in pipelines {
        for stage in &pipeline.stages {
            if options.iter().all(|option| option.value != stage.id) {
                options.push(FieldOption {
                    value: stage.id.clone(),
                    label: stage.label.clone(),
                    hidden: stage.archived || pipeline.archived,
                });
            }
        }
    }
    options
}

/// Owner id → "First Last", else the email, else the id (archived owners keep a label:
/// records still reference them).
fn owner_options(owners: &[Owner]) -> Vec<FieldOption> {
    owners
        .iter()
        .map(|owner| FieldOption {
            value: owner.id.clone(),
            label: owner_label(owner),
            hidden: owner.archived,
        })
        .collect()
}

/// The display name of an owner.
pub fn owner_label(owner: &Owner) -> String {
    let full_name = [owner.first_name.as_deref(), owner.last_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if !full_name.is_empty() {
        return full_name;
    }
    match owner.email.as_deref().map(str::trim) {
        Some(email) if !email.is_empty() => email.to_owned(),
        _ => owner.id.clone(),
    }
}

fn team_options(owners: &[Owner]) -> Vec<FieldOption> {
    let mut teams: BTreeMap<&str, &str> = BTreeMap::new();
    for team in owners.iter().flat_map(|owner| &owner.teams) {
        let label = team.name.as_deref().unwrap_or(team.id.as_str());
        teams.entry(team.id.as_str()).or_insert(label);
    }
    teams
        .into_iter()
        .map(|(id, label)| FieldOption {
            value: id.to_owned(),
            label: label.to_owned(),
            hidden: false,
        })
        .collect()
}

#[cfg(test)]
mod tests;
