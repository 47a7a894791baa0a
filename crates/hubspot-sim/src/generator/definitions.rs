//! Definitions the generator adds beside HubSpot's vendored properties: per-stage deal
//! properties, the `cars` custom object and its schema, and the association types.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::YEAR_MS;
use crate::catalog::{self, STANDARD_ASSOCIATIONS, STANDARD_TYPES};
use crate::store::{
    AssocCategory, AssocDef, AssocRole, AssocStore, CustomSchema, ObjectTable, Pipeline,
    PropertyCatalog, PropertyDef, TypeInfo, fmt_ms,
};

/// Adds the per-stage properties HubSpot creates for every stage of a new pipeline.
pub(super) fn add_stage_properties(props: &mut PropertyCatalog, pipelines: &[Pipeline]) {
    let templates: Vec<PropertyDef> = props
        .defs
        .iter()
        .filter(|d| d.name.ends_with("_appointmentscheduled"))
        .cloned()
        .collect();
    for pipeline in pipelines.iter().filter(|p| p.id != "default") {
        for stage in &pipeline.stages {
            for template in &templates {
                let name = template.name.replace("appointmentscheduled", &stage.id);
                let mut json = template.json.clone();
                json["name"] = Value::from(name.as_str());
                if let Some(label) = json.get("label").and_then(Value::as_str) {
                    json["label"] =
                        Value::from(label.replace("Appointment Scheduled", &stage.label));
                }
                if let Some(def) = PropertyDef::from_json(json) {
                    props.push(def);
                }
            }
        }
    }
}

/// The `cars` custom object: its table and its schema (plus an archived schema).
pub(super) fn cars(
    hub_id: u64,
    custom_id: u64,
    reference_ms: i64,
    rng: &mut ChaCha8Rng,
) -> (ObjectTable, Vec<CustomSchema>) {
    let created = fmt_ms(reference_ms - 2 * YEAR_MS);
    let prop = |name: &str, label: &str, ty: &str, field: &str, options: &[&str]| {
        json!({
            "name": name, "label": label, "type": ty, "fieldType": field, "description": "",
            "groupName": "car_information",
            "options": options.iter().enumerate().map(|(i, o)| json!({"label": o, "value": o.to_ascii_lowercase(), "displayOrder": i, "hidden": false})).collect::<Vec<_>>(),
            "displayOrder": -1, "calculated": false, "externalOptions": false,
            "hasUniqueValue": name == "vin", "hidden": false, "hubspotDefined": false,
            "modificationMetadata": {"archivable": true, "readOnlyDefinition": false, "readOnlyValue": false},
            "formField": true, "dataSensitivity": "non_sensitive", "archived": false,
            "createdAt": created, "updatedAt": created,
        })
    };
    let mut defs = vec![
        prop("year", "Year", "number", "number", &[]),
        prop(
            "make",
            "Make",
            "enumeration",
            "select",
            &["Toyota", "Ford", "Renault", "Volvo", "Tesla"],
        ),
        prop("model", "Model", "string", "text", &[]),
        prop("vin", "VIN", "string", "text", &[]),
        prop(
            "color",
            "Color",
            "enumeration",
            "radio",
            &["Red", "Blue", "Black", "White"],
        ),
        prop("price", "Price", "number", "number", &[]),
        prop("purchase_date", "Purchase date", "date", "date", &[]),
        prop(
            "features",
            "Features",
            "enumeration",
            "checkbox",
            &["Sunroof", "Heated seats", "Tow bar", "GPS"],
        ),
        prop("in_stock", "In stock", "bool", "booleancheckbox", &[]),
    ];
    defs[5]["showCurrencySymbol"] = Value::Bool(true);
    for (name, label, ty, field) in [
        ("hs_object_id", "Record ID", "number", "number"),
        (
            "hs_createdate",
            "Object create date/time",
            "datetime",
            "date",
        ),
        (
            "hs_lastmodifieddate",
            "Object last modified date/time",
            "datetime",
            "date",
        ),
        (
            "hs_merged_object_ids",
            "Merged record IDs",
            "enumeration",
            "checkbox",
        ),
        ("hubspot_owner_id", "Owner", "enumeration", "select"),
        (
            "hs_created_by_user_id",
            "Created by user ID",
            "number",
            "number",
        ),
    ] {
        let mut p = prop(name, label, ty, field, &[]);
        p["hubspotDefined"] = Value::Bool(true);
        p["groupName"] = Value::from("system");
        p["modificationMetadata"]["readOnlyValue"] = Value::Bool(name != "hubspot_owner_id");
        if name == "hubspot_owner_id" {
            p["referencedObjectType"] = Value::from("OWNER");
            p["externalOptions"] = Value::Bool(true);
        }
        defs.push(p);
    }
    let info = TypeInfo {
        plural: "cars".into(),
        singular: "car".into(),
        type_id: format!("2-{custom_id}"),
        fully_qualified: Some(format!("p{hub_id}_cars")),
        inline_key: "cars".into(),
        created_prop: "hs_createdate".into(),
        modified_prop: "hs_lastmodifieddate".into(),
        // inferred: custom objects return the system trio when no properties are asked
        default_props: vec![
            "hs_createdate".into(),
            "hs_lastmodifieddate".into(),
            "hs_object_id".into(),
        ],
        read_scopes: catalog::CUSTOM_READ_SCOPES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        schema_scopes: catalog::CUSTOM_SCHEMA_SCOPES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        searchable: vec!["model".into(), "vin".into(), "make".into()],
        custom: true,
    };
    let first_id = rng.random_range(10_000_000_000..60_000_000_000);
    let table = ObjectTable::new(info, PropertyCatalog::from_json(&defs), first_id);
    let schema = CustomSchema {
        id: custom_id,
        name: "cars".into(),
        label_singular: "Car".into(),
        label_plural: "Cars".into(),
        description: "Cars held in inventory".into(),
        primary_display_property: "model".into(),
        secondary_display_properties: vec!["make".into()],
        required_properties: vec!["model".into(), "vin".into()],
        searchable_properties: vec!["model".into(), "vin".into(), "make".into()],
        archived: false,
        created_ms: reference_ms - 2 * YEAR_MS,
        table: Some(STANDARD_TYPES.len()),
    };
    // an archived schema: listed only with archived=true, its records gone
    let old = CustomSchema {
        id: custom_id + 17,
        name: "legacy_boats".into(),
        label_singular: "Boat".into(),
        label_plural: "Boats".into(),
        description: "Retired object".into(),
        primary_display_property: "hs_object_id".into(),
        secondary_display_properties: Vec::new(),
        required_properties: Vec::new(),
        searchable_properties: Vec::new(),
        archived: true,
        created_ms: reference_ms - 3 * YEAR_MS,
        table: None,
    };
    (table, vec![schema, old])
}

/// The association types of the portal: HubSpot's for standard pairs, portal-specific ones
/// (USER_DEFINED, as HubSpot reports custom-object associations) for the custom object,
/// plus one user-defined label on contact→company.
pub(super) fn association_defs(tables: &[ObjectTable]) -> AssocStore {
    let index = |name: &str| tables.iter().position(|t| t.info.plural == name);
    let mut store = AssocStore::default();
    let singular = |i: usize| tables[i].info.singular.clone();
    for sa in STANDARD_ASSOCIATIONS {
        let (Some(from), Some(to)) = (index(sa.from), index(sa.to)) else {
            continue;
        };
        let base = format!("{}_to_{}", singular(from), singular(to));
        let has_primary = sa.primary.is_some();
        store.defs.push(AssocDef {
            from,
            to,
            type_id: sa.unlabeled,
            category: AssocCategory::HubspotDefined,
            role: AssocRole::Unlabeled,
            label: None,
            v3_name: if has_primary {
                format!("{base}_unlabeled")
            } else {
                base.clone()
            },
        });
        if let Some(primary) = sa.primary {
            store.defs.push(AssocDef {
                from,
                to,
                type_id: primary,
                category: AssocCategory::HubspotDefined,
                role: AssocRole::Primary,
                label: Some("Primary".into()),
                v3_name: base,
            });
        }
    }
    if let (Some(contacts), Some(companies)) = (index("contacts"), index("companies")) {
        for (from, to, type_id) in [(contacts, companies, 28), (companies, contacts, 29)] {
            store.defs.push(AssocDef {
                from,
                to,
                type_id,
                category: AssocCategory::UserDefined,
                role: AssocRole::Labeled,
                label: Some("Billing contact".into()),
                v3_name: "billing_contact".into(),
            });
        }
    }
    if let Some(cars) = index("cars") {
        let mut next = 40u32;
        for other in ["contacts", "deals", "companies"] {
            let Some(o) = index(other) else { continue };
            for (from, to) in [(cars, o), (o, cars)] {
                next += 1;
                store.defs.push(AssocDef {
                    from,
                    to,
                    type_id: next,
                    category: AssocCategory::UserDefined,
                    role: AssocRole::Unlabeled,
                    label: None,
                    v3_name: format!("{}_to_{}", singular(from), singular(to)),
                });
            }
        }
    }
    store
}
