use super::*;
use crate::metadata::{SchemaAssociation, SchemaLabels};

fn scopes(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The install request of API.md §1.7 without any optional scope but `e-commerce`.
const REQUIRED: &[&str] = &[
    "oauth",
    "crm.objects.contacts.read",
    "crm.schemas.contacts.read",
    "crm.objects.companies.read",
    "crm.schemas.companies.read",
    "crm.objects.deals.read",
    "crm.schemas.deals.read",
    "crm.objects.owners.read",
    "e-commerce",
];

#[test]
fn install_scopes_unlock_the_product_tables_and_optional_ones_follow_the_grant() {
    let only_required = select_tables(&scopes(INSTALL_SCOPES_REQUIRED), &[schema("2-1", "cars")]);
    assert_eq!(
        names(&only_required),
        [
            "deals",
            "companies",
            "meetings",
            "calls",
            "emails",
            "tasks",
            "contacts"
        ]
    );
    let reasons: Vec<String> = only_required
        .left_out
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        reasons,
        [
            "line_items: one of the scopes crm.objects.line_items.read, e-commerce not granted",
            "goals: scope crm.objects.goals.read not granted",
            "custom tables: scope crm.objects.custom.read not granted",
        ]
    );
    assert!(owners_available(&scopes(INSTALL_SCOPES_REQUIRED)).is_ok());

    let everything: Vec<&str> = INSTALL_SCOPES_REQUIRED
        .iter()
        .chain(INSTALL_SCOPES_OPTIONAL)
        .copied()
        .collect();
    let all = select_tables(&scopes(&everything), &[schema("2-1", "cars")]);
    assert_eq!(
        all.enabled.len(),
        10,
        "nine standard tables and the custom one"
    );
    assert!(all.left_out.is_empty(), "{:?}", all.left_out);
}

fn schema(id: &str, name: &str) -> ObjectSchema {
    ObjectSchema {
        id: id.trim_start_matches("2-").to_owned(),
        object_type_id: id.to_owned(),
        name: name.to_owned(),
        fully_qualified_name: format!("p1234_{name}"),
        labels: SchemaLabels {
            singular: None,
            plural: Some(format!("{name} (plural)")),
        },
        primary_display_property: Some("model".to_owned()),
        properties: Vec::new(),
        associations: Vec::new(),
        archived: false,
    }
}

fn names(selection: &TableSelection) -> Vec<&str> {
    selection.enabled.iter().map(|t| t.name.as_str()).collect()
}

#[test]
fn standard_tables_follow_the_product_list() {
    let deals = standard_table(&TableName::DEALS).unwrap();
    assert_eq!(deals.object_type, "deals");
    assert_eq!(deals.object_type_id, "0-3");
    assert_eq!(deals.name_property.as_str(), "dealname");
    assert_eq!(
        deals.currency_property.as_ref().map(PropertyName::as_str),
        Some("deal_currency_code")
    );
    assert_eq!(deals.last_modified_property.as_str(), "hs_lastmodifieddate");
    let deal_joins: Vec<_> = deals.joins.iter().map(|j| j.to_table.as_str()).collect();
    assert_eq!(deal_joins, ["companies", "contacts"]);

    let contacts = standard_table(&TableName::CONTACTS).unwrap();
    assert_eq!(contacts.last_modified_property.as_str(), "lastmodifieddate");
    assert_eq!(contacts.name_property.as_str(), "email");
    assert_eq!(contacts.created_property.as_str(), "createdate");

    let goals = standard_table(&TableName::GOALS).unwrap();
    assert_eq!(goals.object_type, "goal_targets");
    assert_eq!(goals.object_type_id, "0-74");
    assert_eq!(goals.name_property.as_str(), "hs_goal_name");
    assert!(goals.optional);

    let line_items = standard_table(&TableName::LINE_ITEMS).unwrap();
    assert_eq!(
        line_items
            .currency_property
            .as_ref()
            .map(PropertyName::as_str),
        Some("hs_line_item_currency_code")
    );
    let meetings = standard_table(&TableName::MEETINGS).unwrap();
    assert_eq!(meetings.created_property.as_str(), "hs_createdate");
    assert_eq!(meetings.name_property.as_str(), "hs_meeting_title");

    // Every table but contacts uses hs_lastmodifieddate; names are unique.
    let all = standard_tables();
    assert_eq!(all.len(), 9);
    for table in &all {
        let expected = if table.name == TableName::CONTACTS {
            "lastmodifieddate"
        } else {
            "hs_lastmodifieddate"
        };
        assert_eq!(
            table.last_modified_property.as_str(),
            expected,
            "{}",
            table.name
        );
    }
    let unique: BTreeSet<_> = all.iter().map(|t| &t.name).collect();
    assert_eq!(unique.len(), all.len());
}

#[test]
fn required_scopes_enable_every_standard_table_but_goals() {
    let selection = select_tables(&scopes(REQUIRED), &[schema("2-1", "cars")]);
    assert_eq!(
        names(&selection),
        [
            "deals",
            "companies",
            "line_items",
            "meetings",
            "calls",
            "emails",
            "tasks",
            "contacts"
        ]
    );
    let reasons: Vec<String> = selection.left_out.iter().map(ToString::to_string).collect();
    assert_eq!(
        reasons,
        [
            "goals: scope crm.objects.goals.read not granted",
            "custom tables: scope crm.objects.custom.read not granted",
        ]
    );
}

#[test]
fn custom_tables_need_both_record_and_schema_access() {
    let mut granted = scopes(REQUIRED);
    granted.insert("crm.schemas.custom.read".to_owned());
    let selection = select_tables(&granted, &[schema("2-1", "cars")]);
    assert!(
        selection
            .table(&TableName::parse("cars").unwrap())
            .is_none()
    );
    assert!(
        selection
            .left_out
            .iter()
            .any(|l| l.to_string() == "custom tables: scope crm.objects.custom.read not granted")
    );

    // crm.objects.custom.read alone also reads schemas (API.md §1.7).
    let mut granted = scopes(REQUIRED);
    granted.insert("crm.objects.custom.read".to_owned());
    let selection = select_tables(&granted, &[schema("2-1", "cars")]);
    let cars = selection.table(&TableName::parse("cars").unwrap()).unwrap();
    assert_eq!(cars.kind, TableKind::Custom);
    assert_eq!(cars.object_type, "2-1");
    assert_eq!(cars.name_property.as_str(), "model");
    assert_eq!(cars.last_modified_property.as_str(), "hs_lastmodifieddate");
    assert_eq!(cars.created_property.as_str(), "hs_createdate");
    assert_eq!(cars.label, "cars (plural)");
}

#[test]
fn optional_scopes_enable_goals_and_custom_tables() {
    let mut granted = scopes(REQUIRED);
    for extra in [
        "crm.objects.custom.read",
        "crm.schemas.custom.read",
        "crm.objects.goals.read",
    ] {
        granted.insert(extra.to_owned());
    }
    let mut archived = schema("2-3", "boats");
    archived.archived = true;
    let mut cars = schema("2-1", "Cars");
    cars.associations = vec![
        SchemaAssociation {
            id: "1".into(),
            from_object_type_id: "2-1".into(),
            to_object_type_id: "0-1".into(),
            name: Some("car_to_contact".into()),
        },
        SchemaAssociation {
            id: "2".into(),
            from_object_type_id: "2-1".into(),
            to_object_type_id: "2-2".into(),
            name: None,
        },
        // Tickets are not in the catalog: no join.
        SchemaAssociation {
            id: "3".into(),
            from_object_type_id: "2-1".into(),
            to_object_type_id: "0-5".into(),
            name: None,
        },
    ];
    let clashing = schema("2-2", "deals");
    let selection = select_tables(&granted, &[archived, clashing, cars]);
    assert!(selection.left_out.iter().all(|l| l.subject != "goals"));
    assert!(selection.table(&TableName::GOALS).is_some());

    let cars = selection.table(&TableName::parse("cars").unwrap()).unwrap();
    let joins: Vec<(&str, &str)> = cars
        .joins
        .iter()
        .map(|j| (j.to_table.as_str(), j.to_object_type.as_str()))
        .collect();
    assert_eq!(joins, [("contacts", "contacts"), ("deals_2_2", "2-2")]);

    // A custom object named like a standard table gets its type id appended.
    let renamed = selection
        .table(&TableName::parse("deals_2_2").unwrap())
        .unwrap();
    assert_eq!(renamed.object_type_id, "2-2");
    assert_eq!(
        selection.table(&TableName::DEALS).unwrap().kind,
        TableKind::Standard
    );

    let boats: Vec<String> = selection
        .left_out
        .iter()
        .filter(|l| l.subject == "custom table boats")
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        boats,
        ["custom table boats: the custom object is archived in HubSpot"]
    );
}

#[test]
fn joins_to_tables_not_synced_are_dropped_with_a_reason() {
    // Without the contacts scope: no contacts, no engagements, and deals lose a join.
    let granted = scopes(&[
        "crm.objects.deals.read",
        "crm.objects.companies.read",
        "crm.objects.line_items.read",
    ]);
    let selection = select_tables(&granted, &[]);
    assert_eq!(names(&selection), ["deals", "companies", "line_items"]);
    let deals = selection.table(&TableName::DEALS).unwrap();
    assert_eq!(deals.joins.len(), 1);
    assert_eq!(deals.joins[0].to_table, TableName::COMPANIES);
    let reasons: Vec<String> = selection.left_out.iter().map(ToString::to_string).collect();
    assert!(reasons.contains(&"contacts: scope crm.objects.contacts.read not granted".to_owned()));
    assert!(reasons.contains(
        &"meetings: one of the scopes crm.objects.contacts.read, crm.objects.meetings.read not granted"
            .to_owned()
    ));
    assert!(reasons.contains(&"join deals → contacts: table contacts is not synced".to_owned()));
}

#[test]
fn the_oldest_custom_object_keeps_a_contested_name() {
    let mut granted = scopes(REQUIRED);
    granted.insert("crm.objects.custom.read".to_owned());
    // "2-10" was created after "2-9"; lexical order would put it first.
    let selection = select_tables(&granted, &[schema("2-10", "Cars"), schema("2-9", "cars")]);
    let plain = selection.table(&TableName::parse("cars").unwrap()).unwrap();
    assert_eq!(plain.object_type_id, "2-9");
    let renamed = selection
        .table(&TableName::parse("cars_2_10").unwrap())
        .unwrap();
    assert_eq!(renamed.object_type_id, "2-10");
}

#[test]
fn line_items_accept_either_scope() {
    for scope in ["e-commerce", "crm.objects.line_items.read"] {
        let selection = select_tables(&scopes(&[scope]), &[]);
        assert_eq!(names(&selection), ["line_items"], "{scope}");
    }
}

#[test]
fn owners_need_their_scope() {
    assert!(owners_available(&scopes(REQUIRED)).is_ok());
    let refused = owners_available(&scopes(&["crm.objects.deals.read"])).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "owners: one of the scopes crm.objects.owners.read, automation not granted; user fields will hold owner ids without names"
    );
}

#[test]
fn custom_schema_without_display_property_uses_the_id() {
    let mut granted = scopes(REQUIRED);
    granted.insert("crm.objects.custom.read".to_owned());
    let mut plain = schema("2-9", "Plain Things!");
    plain.primary_display_property = None;
    let mut bad = schema("2-8", "weird");
    bad.primary_display_property = Some("x\"y".to_owned());
    let selection = select_tables(&granted, &[plain, bad]);
    let plain = selection
        .table(&TableName::parse("plain_things_").unwrap())
        .unwrap();
    assert_eq!(plain.name_property, PropertyName::HS_OBJECT_ID);
    assert!(selection.left_out.iter().any(|l| {
        l.subject == "custom table weird"
            && l.reason
                .starts_with("its display property cannot be a column name")
    }));
}
