//! The object types, scopes and association types the simulator knows, as HubSpot names them.
//!
//! Everything here is static data transcribed from API.md §1.7, §2 and §11.4; portal-specific
//! parts (custom objects, their association type ids) are built by the generator.

use std::sync::LazyLock;

use serde_json::Value;

/// A standard CRM object type as the simulator serves it.
#[derive(Debug, Clone)]
pub struct StandardType {
    pub plural: &'static str,
    pub singular: &'static str,
    pub type_id: &'static str,
    /// Label used as the key of inline v3 associations (HubSpot uses labels, e.g. "line items").
    pub inline_key: &'static str,
    pub created_prop: &'static str,
    pub modified_prop: &'static str,
    pub default_props: &'static [&'static str],
    /// Any one of these scopes unlocks the records (API.md §1.7: alternatives).
    pub read_scopes: &'static [&'static str],
    /// Extra scopes that unlock the property definitions only.
    pub schema_scopes: &'static [&'static str],
    pub properties_json: &'static str,
    /// Properties a free-text `query` searches in.
    pub searchable: &'static [&'static str],
}

const ENGAGEMENT_DEFAULTS: &[&str] = &["hs_createdate", "hs_lastmodifieddate", "hs_object_id"];

pub static STANDARD_TYPES: &[StandardType] = &[
    StandardType {
        plural: "contacts",
        singular: "contact",
        type_id: "0-1",
        inline_key: "contacts",
        created_prop: "createdate",
        modified_prop: "lastmodifieddate",
        default_props: &[
            "firstname",
            "lastname",
            "email",
            "createdate",
            "lastmodifieddate",
            "hs_object_id",
        ],
        read_scopes: &["crm.objects.contacts.read"],
        schema_scopes: &["crm.schemas.contacts.read"],
        properties_json: include_str!("../data/properties/contacts.json"),
        searchable: &["firstname", "lastname", "email", "phone", "company"],
    },
    StandardType {
        plural: "companies",
        singular: "company",
        type_id: "0-2",
        inline_key: "companies",
        created_prop: "createdate",
        modified_prop: "hs_lastmodifieddate",
        default_props: &[
            "name",
            "domain",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
        ],
        read_scopes: &["crm.objects.companies.read"],
        schema_scopes: &["crm.schemas.companies.read"],
        properties_json: include_str!("../data/properties/companies.json"),
        searchable: &["name", "domain", "website", "phone"],
    },
    StandardType {
        plural: "deals",
        singular: "deal",
        type_id: "0-3",
        inline_key: "deals",
        created_prop: "createdate",
        modified_prop: "hs_lastmodifieddate",
        default_props: &[
            "dealname",
            "amount",
            "closedate",
            "pipeline",
            "dealstage",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
        ],
        read_scopes: &["crm.objects.deals.read"],
        schema_scopes: &["crm.schemas.deals.read"],
        properties_json: include_str!("../data/properties/deals.json"),
        searchable: &["dealname", "description"],
    },
    StandardType {
        plural: "products",
        singular: "product",
        type_id: "0-7",
        inline_key: "products",
        created_prop: "createdate",
        modified_prop: "hs_lastmodifieddate",
        default_props: &[
            "name",
            "description",
            "price",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
        ],
        read_scopes: &["crm.objects.products.read", "e-commerce"],
        schema_scopes: &[],
        properties_json: include_str!("../data/properties/products.json"),
        searchable: &["name", "description", "hs_sku"],
    },
    StandardType {
        plural: "line_items",
        singular: "line_item",
        type_id: "0-8",
        inline_key: "line items",
        created_prop: "createdate",
        modified_prop: "hs_lastmodifieddate",
        default_props: &[
            "quantity",
            "amount",
            "price",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
        ],
        read_scopes: &["crm.objects.line_items.read", "e-commerce"],
        schema_scopes: &["crm.schemas.line_items.read"],
        properties_json: include_str!("../data/properties/line_items.json"),
        searchable: &["name", "description", "hs_sku"],
    },
    StandardType {
        plural: "tasks",
        singular: "task",
        type_id: "0-27",
        inline_key: "tasks",
        created_prop: "hs_createdate",
        modified_prop: "hs_lastmodifieddate",
        default_props: ENGAGEMENT_DEFAULTS,
        read_scopes: &["crm.objects.contacts.read", "crm.objects.tasks.read"],
        schema_scopes: &[],
        properties_json: include_str!("../data/properties/tasks.json"),
        searchable: &["hs_task_subject", "hs_task_body"],
    },
    StandardType {
        plural: "meetings",
        singular: "meeting",
        type_id: "0-47",
        inline_key: "meetings",
        created_prop: "hs_createdate",
        modified_prop: "hs_lastmodifieddate",
        default_props: ENGAGEMENT_DEFAULTS,
        read_scopes: &["crm.objects.contacts.read", "crm.objects.meetings.read"],
        schema_scopes: &[],
        properties_json: include_str!("../data/properties/meetings.json"),
        searchable: &["hs_meeting_title", "hs_meeting_body"],
    },
    StandardType {
        plural: "calls",
        singular: "call",
        type_id: "0-48",
        inline_key: "calls",
        created_prop: "hs_createdate",
        modified_prop: "hs_lastmodifieddate",
        default_props: ENGAGEMENT_DEFAULTS,
        read_scopes: &["crm.objects.contacts.read", "crm.objects.calls.read"],
        schema_scopes: &[],
        properties_json: include_str!("../data/properties/calls.json"),
        searchable: &["hs_call_title", "hs_call_body"],
    },
    StandardType {
        plural: "emails",
        singular: "email",
        type_id: "0-49",
        inline_key: "emails",
        created_prop: "hs_createdate",
        modified_prop: "hs_lastmodifieddate",
        default_props: ENGAGEMENT_DEFAULTS,
        read_scopes: &["crm.objects.contacts.read", "sales-email-read"],
        schema_scopes: &[],
        properties_json: include_str!("../data/properties/emails.json"),
        searchable: &["hs_email_subject", "hs_email_text"],
    },
    StandardType {
        plural: "goal_targets",
        singular: "goal_target",
        type_id: "0-74",
        inline_key: "goal_targets",
        created_prop: "hs_createdate",
        modified_prop: "hs_lastmodifieddate",
        default_props: ENGAGEMENT_DEFAULTS,
        read_scopes: &["crm.objects.goals.read"],
        schema_scopes: &[],
        properties_json: include_str!("../data/properties/goal_targets.json"),
        searchable: &["hs_goal_name"],
    },
];

/// Scopes that unlock custom-object records.
pub const CUSTOM_READ_SCOPES: &[&str] = &["crm.objects.custom.read"];
/// Scopes that unlock custom-object definitions (schemas and their properties).
pub const CUSTOM_SCHEMA_SCOPES: &[&str] = &["crm.schemas.custom.read", "crm.objects.custom.read"];
/// Scopes that unlock owners (`automation` is the legacy alternative).
pub const OWNER_SCOPES: &[&str] = &["crm.objects.owners.read", "automation"];

/// Every scope an app can be granted here: the read scopes of the catalog. Write scopes are
/// deliberately absent — the product is read-only, and the simulator refuses writes as HubSpot
/// refuses an app that lacks them.
pub const SCOPE_CATALOG: &[&str] = &[
    "oauth",
    "crm.objects.contacts.read",
    "crm.schemas.contacts.read",
    "crm.objects.companies.read",
    "crm.schemas.companies.read",
    "crm.objects.deals.read",
    "crm.schemas.deals.read",
    "crm.objects.owners.read",
    "crm.objects.line_items.read",
    "crm.schemas.line_items.read",
    "crm.objects.products.read",
    "e-commerce",
    "crm.objects.meetings.read",
    "crm.objects.calls.read",
    "crm.objects.tasks.read",
    "sales-email-read",
    "crm.objects.goals.read",
    "crm.objects.custom.read",
    "crm.schemas.custom.read",
];

/// Looks up a standard type by any of its spellings (plural, singular, objectTypeId).
pub fn standard_type(name: &str) -> Option<&'static StandardType> {
    let lower = name.to_ascii_lowercase();
    STANDARD_TYPES.iter().find(|t| {
        t.plural == lower
            || t.singular == lower
            || t.type_id == lower
            // older connectors spell line items without the underscore
            || (t.plural == "line_items" && (lower == "lineitem" || lower == "lineitems"))
    })
}

/// The vendored property definitions of a standard type, parsed once.
pub fn standard_properties(t: &StandardType) -> &'static [Value] {
    static PARSED: LazyLock<Vec<Vec<Value>>> = LazyLock::new(|| {
        STANDARD_TYPES
            .iter()
            .map(|t| match serde_json::from_str::<Value>(t.properties_json) {
                Ok(Value::Array(items)) => items,
                // the files are vendored and checked by a unit test; an unreadable one is a bug
                _ => Vec::new(),
            })
            .collect()
    });
    let index = STANDARD_TYPES
        .iter()
        .position(|s| s.plural == t.plural)
        .unwrap_or(0);
    &PARSED[index]
}

/// A HubSpot-defined association type between two standard types (API.md §11.4).
#[derive(Debug, Clone, Copy)]
pub struct StandardAssociation {
    pub from: &'static str,
    pub to: &'static str,
    /// The unlabeled (default) type id, always present on an association.
    pub unlabeled: u32,
    /// The "Primary" type id, for pairs where HubSpot has a primary flavour.
    pub primary: Option<u32>,
}

pub static STANDARD_ASSOCIATIONS: &[StandardAssociation] = &[
    sa("contacts", "companies", 279, Some(1)),
    sa("companies", "contacts", 280, Some(2)),
    sa("deals", "contacts", 3, None),
    sa("contacts", "deals", 4, None),
    sa("deals", "companies", 341, Some(5)),
    sa("companies", "deals", 342, Some(6)),
    sa("deals", "line_items", 19, None),
    sa("line_items", "deals", 20, None),
    sa("calls", "contacts", 194, None),
    sa("calls", "companies", 182, None),
    sa("calls", "deals", 206, None),
    sa("contacts", "calls", 193, None),
    sa("companies", "calls", 181, None),
    sa("deals", "calls", 205, None),
    sa("emails", "contacts", 198, None),
    sa("emails", "companies", 186, None),
    sa("emails", "deals", 210, None),
    sa("contacts", "emails", 197, None),
    sa("companies", "emails", 185, None),
    sa("deals", "emails", 209, None),
    sa("meetings", "contacts", 200, None),
    sa("meetings", "companies", 188, None),
    sa("meetings", "deals", 212, None),
    sa("contacts", "meetings", 199, None),
    sa("companies", "meetings", 187, None),
    sa("deals", "meetings", 211, None),
    sa("tasks", "contacts", 204, None),
    sa("tasks", "companies", 192, None),
    sa("tasks", "deals", 216, None),
    sa("contacts", "tasks", 203, None),
    sa("companies", "tasks", 191, None),
    sa("deals", "tasks", 215, None),
    sa("contacts", "contacts", 449, None),
    sa("companies", "companies", 450, None),
    sa("deals", "deals", 451, None),
];

const fn sa(
    from: &'static str,
    to: &'static str,
    unlabeled: u32,
    primary: Option<u32>,
) -> StandardAssociation {
    StandardAssociation {
        from,
        to,
        unlabeled,
        primary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendored_property_file_parses_and_holds_the_system_properties() {
        for t in STANDARD_TYPES {
            let props = standard_properties(t);
            assert!(
                props.len() > 10,
                "{} has {} properties",
                t.plural,
                props.len()
            );
            let names: Vec<&str> = props.iter().filter_map(|p| p["name"].as_str()).collect();
            for required in [t.created_prop, t.modified_prop, "hs_object_id"] {
                assert!(names.contains(&required), "{} lacks {required}", t.plural);
            }
        }
    }

    #[test]
    fn types_resolve_by_every_spelling() {
        for name in ["deals", "deal", "0-3", "DEALS"] {
            assert_eq!(standard_type(name).map(|t| t.plural), Some("deals"));
        }
        assert_eq!(
            standard_type("line_item").map(|t| t.plural),
            Some("line_items")
        );
        assert!(standard_type("tickets").is_none());
    }
}
