//! HubSpot's metadata as the domain reads it: property definitions, custom-object
//! schemas, pipelines and owners, in the JSON shape HubSpot sends them.
//!
//! These structs are the contract between the client (which deserializes HubSpot's
//! responses into them) and the rules of this crate (which map them to our field types).
//! Every field HubSpot may omit has a default, and unknown fields are ignored, because
//! HubSpot adds fields over time and a sync must not break on a new one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Reads an explicit JSON `null` as the type's default, like an absent field: HubSpot
/// sends `null` for some unset metadata (a label, a description), and one such property
/// must not fail the whole properties call of its table.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// One property definition, as in `GET /crm/v3/properties/{objectType}` `results[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyDefinition {
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub label: String,
    /// HubSpot's data type: `string`, `number`, `enumeration`, `bool`, `date`, `datetime`,
    /// `phone_number`, `object_coordinates`, `json`, or something newer.
    #[serde(rename = "type")]
    pub property_type: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub field_type: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub description: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub group_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub options: Vec<PropertyOption>,
    #[serde(default)]
    pub display_order: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub calculated: bool,
    /// Options live elsewhere (pipelines, owners, currencies) and `options` is empty or partial.
    #[serde(default, deserialize_with = "null_as_default")]
    pub external_options: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub has_unique_value: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub hidden: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub hubspot_defined: bool,
    /// `OWNER` for owner references; also `COMPANY`, `SEQUENCE`, ...
    #[serde(default)]
    pub referenced_object_type: Option<String>,
    #[serde(default)]
    pub show_currency_symbol: Option<bool>,
    /// The property holding the record's ISO currency code (e.g. `deal_currency_code`).
    #[serde(default)]
    pub currency_property_name: Option<String>,
    /// `currency`, `formatted`, `unformatted`, `duration`, `percentage`, ...
    #[serde(default)]
    pub number_display_hint: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub archived: bool,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// One option of an enumeration property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyOption {
    pub value: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub label: String,
    #[serde(default)]
    pub display_order: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub hidden: bool,
}

/// A custom-object schema, as in `GET /crm-object-schemas/v3/schemas` `results[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSchema {
    pub id: String,
    /// `2-<n>`: the stable id to address the object by.
    pub object_type_id: String,
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub fully_qualified_name: String,
    #[serde(default)]
    pub labels: SchemaLabels,
    #[serde(default)]
    pub primary_display_property: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub properties: Vec<PropertyDefinition>,
    /// The association definitions of the object (present unless the schema was read
    /// with `includeAssociationDefinitions=false`); the catalog derives joins from them.
    #[serde(default, deserialize_with = "null_as_default")]
    pub associations: Vec<SchemaAssociation>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub archived: bool,
}

/// One association definition of a custom-object schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaAssociation {
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    pub from_object_type_id: String,
    pub to_object_type_id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// Singular and plural labels of a custom object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchemaLabels {
    #[serde(default)]
    pub singular: Option<String>,
    #[serde(default)]
    pub plural: Option<String>,
}

/// A pipeline with its stages, as in `GET /crm/v3/pipelines/{objectType}` `results[]`.
/// Deals keep the labels of `pipeline` and `dealstage` here, not in the property options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub label: String,
    #[serde(default)]
    pub display_order: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub archived: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub stages: Vec<PipelineStage>,
}

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineStage {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub label: String,
    #[serde(default)]
    pub display_order: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub archived: bool,
    /// e.g. `probability` and `isClosed`, as strings.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

/// An owner (a HubSpot user or queue that records can be assigned to), as in
/// `GET /crm/v3/owners` `results[]`. Archived owners have `user_id: None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub user_id: Option<i64>,
    #[serde(default)]
    pub user_id_including_inactive: Option<i64>,
    /// `PERSON` or `QUEUE`.
    #[serde(default, rename = "type")]
    pub owner_type: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub archived: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub teams: Vec<OwnerTeam>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A team an owner belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerTeam {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub primary: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_nulls_read_as_absent() {
        let property: PropertyDefinition = serde_json::from_value(serde_json::json!({
            "name": "odd", "type": "string", "label": null, "fieldType": null,
            "description": null, "groupName": null, "options": null, "hidden": null
        }))
        .unwrap();
        assert_eq!(property.label, "");
        assert!(property.options.is_empty());
        assert!(!property.hidden);
        let owner: Owner =
            serde_json::from_value(serde_json::json!({"id": "1", "archived": null, "teams": null}))
                .unwrap();
        assert!(!owner.archived && owner.teams.is_empty());
    }

    #[test]
    fn reads_every_captured_deal_property() {
        let raw = include_str!("../../hubspot-sim/data/properties/deals.json");
        let parsed: Vec<PropertyDefinition> = serde_json::from_str(raw).expect("deals.json parses");
        let amount = parsed.iter().find(|p| p.name == "amount").expect("amount");
        assert_eq!(amount.property_type, "number");
        assert_eq!(amount.show_currency_symbol, Some(true));
        let owner = parsed
            .iter()
            .find(|p| p.name == "hubspot_owner_id")
            .expect("owner");
        assert_eq!(owner.referenced_object_type.as_deref(), Some("OWNER"));
    }
}
