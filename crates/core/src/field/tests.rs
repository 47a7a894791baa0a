use super::*;
use crate::catalog::standard_table;
use crate::ids::TableName;
use crate::metadata::{OwnerTeam, PipelineStage, PropertyOption};

fn definition(name: &str, property_type: &str, field_type: &str) -> PropertyDefinition {
    serde_json::from_value(serde_json::json!({
        "name": name, "label": name, "type": property_type, "fieldType": field_type
    }))
    .unwrap()
}

fn table(name: TableName) -> TableSpec {
    standard_table(&name).unwrap()
}

fn map(table_name: TableName, definition: &PropertyDefinition) -> Field {
    map_property(&table(table_name), definition, MappingContext::default()).unwrap()
}

fn default_pipeline() -> Pipeline {
    let stage = |id: &str, label: &str| PipelineStage {
        id: id.into(),
        label: label.into(),
        display_order: None,
        archived: false,
        metadata: Default::default(),
    };
    Pipeline {
        id: "default".into(),
        label: "Sales Pipeline".into(),
        display_order: Some(0),
        archived: false,
        stages: vec![
            stage("appointmentscheduled", "Appointment Scheduled"),
            stage("closedwon", "Closed Won"),
            stage("closedlost", "Closed Lost"),
        ],
    }
}

fn owner(id: &str, first: Option<&str>, last: Option<&str>, email: Option<&str>) -> Owner {
    Owner {
        id: id.into(),
        email: email.map(Into::into),
        first_name: first.map(Into::into),
        last_name: last.map(Into::into),
        user_id: None,
        user_id_including_inactive: None,
        owner_type: Some("PERSON".into()),
        archived: false,
        teams: vec![OwnerTeam {
            id: "368389".into(),
            name: Some("Sales Team".into()),
            primary: true,
        }],
        created_at: None,
        updated_at: None,
    }
}

#[test]
fn numbers_are_amounts_only_when_money_on_a_table_with_a_currency() {
    let mut money = definition("amount", "number", "number");
    money.show_currency_symbol = Some(true);
    let deals_amount = map(TableName::DEALS, &money);
    assert_eq!(deals_amount.field_type, FieldType::Amount);
    assert_eq!(
        deals_amount
            .currency_property
            .as_ref()
            .map(PropertyName::as_str),
        Some("deal_currency_code")
    );
    assert_eq!(deals_amount.sql_type(), SqlType::Numeric);

    // Companies have no currency field: the same money property is a plain number.
    let revenue = map(TableName::COMPANIES, &money);
    assert_eq!(revenue.field_type, FieldType::Number);
    assert_eq!(revenue.currency_property, None);

    // Each money marker suffices alone.
    let mut hinted = definition("hs_x", "number", "number");
    hinted.number_display_hint = Some("currency".into());
    assert_eq!(
        map(TableName::LINE_ITEMS, &hinted).field_type,
        FieldType::Amount
    );
    let mut named = definition("hs_y", "number", "number");
    named.currency_property_name = Some("hs_line_item_currency_code".into());
    assert_eq!(map(TableName::DEALS, &named).field_type, FieldType::Amount);
    // The property's own currency property wins over the table's.
    assert_eq!(
        map(TableName::DEALS, &named)
            .currency_property
            .map(String::from)
            .as_deref(),
        Some("hs_line_item_currency_code")
    );

    let mut not_money = definition("hs_z", "number", "number");
    not_money.show_currency_symbol = Some(false);
    not_money.number_display_hint = Some("formatted".into());
    assert_eq!(
        map(TableName::DEALS, &not_money).field_type,
        FieldType::Number
    );
}

#[test]
fn enumerations_are_users_or_picklists() {
    let mut owner_ref = definition("hubspot_owner_id", "enumeration", "select");
    owner_ref.referenced_object_type = Some("OWNER".into());
    let field = map(TableName::DEALS, &owner_ref);
    assert_eq!((field.field_type, field.multi), (FieldType::User, false));
    assert_eq!(field.sql_type(), SqlType::Text);

    let mut collaborators = definition("hs_all_collaborator_owner_ids", "enumeration", "checkbox");
    collaborators.referenced_object_type = Some("OWNER".into());
    let field = map(TableName::DEALS, &collaborators);
    assert_eq!((field.field_type, field.multi), (FieldType::User, true));
    assert_eq!(field.sql_type(), SqlType::TextArray);

    // Owner-id lists without the flag, even when fieldType says select.
    for name in UNFLAGGED_OWNER_ID_PROPERTIES {
        let field = map(TableName::DEALS, &definition(name, "enumeration", "select"));
        assert_eq!(
            (field.field_type, field.multi),
            (FieldType::User, true),
            "{name}"
        );
    }
    // User ids are not owner ids.
    let user_ids = map(
        TableName::DEALS,
        &definition("hs_user_ids_of_all_owners", "enumeration", "checkbox"),
    );
    assert_eq!(
        (user_ids.field_type, user_ids.multi),
        (FieldType::Picklist, true)
    );

    let mut radio = definition("hs_priority", "enumeration", "radio");
    radio.options = vec![PropertyOption {
        value: "high".into(),
        label: "High".into(),
        display_order: Some(2),
        hidden: false,
    }];
    let field = map(TableName::DEALS, &radio);
    assert_eq!(
        (field.field_type, field.multi),
        (FieldType::Picklist, false)
    );
    assert_eq!(field.option_label("high"), Some("High"));

    // enumeration + booleancheckbox goes by type: a picklist of "true"/"false".
    let odd = map(
        TableName::CONTACTS,
        &definition("hs_odd", "enumeration", "booleancheckbox"),
    );
    assert_eq!(odd.field_type, FieldType::Picklist);
}

#[test]
fn external_options_come_from_pipelines_owners_and_teams() {
    let pipelines = [default_pipeline()];
    let owners = [
        owner(
            "41629779",
            Some("Ada"),
            Some("Lovelace"),
            Some("ada@example.com"),
        ),
        owner("2", Some(" "), None, Some("nameless@example.com")),
        owner("3", None, None, None),
    ];
    let context = MappingContext {
        pipelines: &pipelines,
        owners: &owners,
    };
    let deals = table(TableName::DEALS);

    // Chosen by name: no `external_options` flag is needed.
    let stage = definition("dealstage", "enumeration", "radio");
    assert!(!stage.external_options);
    let field = map_property(&deals, &stage, context).unwrap();
    assert_eq!(field.field_type, FieldType::Picklist);
    assert_eq!(field.option_label("closedwon"), Some("Closed Won"));
    assert_eq!(field.options.len(), 3);

    let pipeline = definition("pipeline", "enumeration", "select");
    let field = map_property(&deals, &pipeline, context).unwrap();
    assert_eq!(field.option_label("default"), Some("Sales Pipeline"));

    let mut owner_ref = definition("hubspot_owner_id", "enumeration", "select");
    owner_ref.referenced_object_type = Some("OWNER".into());
    let field = map_property(&deals, &owner_ref, context).unwrap();
    assert_eq!(field.option_label("41629779"), Some("Ada Lovelace"));
    assert_eq!(field.option_label("2"), Some("nameless@example.com"));
    assert_eq!(field.option_label("3"), Some("3"));

    let team = definition("hubspot_team_id", "enumeration", "select");
    let field = map_property(&deals, &team, context).unwrap();
    assert_eq!(field.option_label("368389"), Some("Sales Team"));
    assert_eq!(field.options.len(), 1);

    // Without pipelines the options stay empty; mapping still succeeds.
    let field = map_property(&deals, &stage, MappingContext::default()).unwrap();
    assert!(field.options.is_empty());
}

#[test]
fn dates_and_datetimes_differ_in_sql_type() {
    let date = map(
        TableName::DEALS,
        &definition("closedate_only", "date", "date"),
    );
    assert_eq!(date.field_type, FieldType::Date);
    assert_eq!(date.sql_type(), SqlType::Date);
    let datetime = map(
        TableName::DEALS,
        &definition("closedate", "datetime", "date"),
    );
    assert_eq!(datetime.field_type, FieldType::Date);
    assert_eq!(datetime.sql_type(), SqlType::Timestamptz);
    // Odd real pair: datetime type with number fieldType maps by type.
    let odd = map(
        TableName::DEALS,
        &definition("hs_analytics_latest_source_timestamp", "datetime", "number"),
    );
    assert_eq!(odd.field_type, FieldType::Date);
    assert_eq!(odd.sql_type(), SqlType::Timestamptz);
    let number_text = map(TableName::COMPANIES, &definition("x", "number", "text"));
    assert_eq!(number_text.field_type, FieldType::Number);
}

#[test]
fn a_user_type_is_a_user_field() {
    let single = map(TableName::DEALS, &definition("approver", "user", "select"));
    assert_eq!(single.field_type, FieldType::User);
    assert_eq!(single.sql_type(), SqlType::Text);
    let many = map(
        TableName::DEALS,
        &definition("reviewers", "user", "checkbox"),
    );
    assert_eq!(many.field_type, FieldType::User);
    assert_eq!(many.sql_type(), SqlType::TextArray);
}

#[test]
fn every_other_type_is_a_string() {
    for property_type in [
        "string",
        "phone_number",
        "object_coordinates",
        "json",
        "hologram",
        "",
    ] {
        let field = map(TableName::CONTACTS, &definition("x", property_type, "text"));
        assert_eq!(field.field_type, FieldType::String, "{property_type}");
        assert_eq!(field.sql_type(), SqlType::Text);
        assert_eq!(field.hubspot_type, property_type);
    }
    let flag = map(
        TableName::CONTACTS,
        &definition("b", "bool", "calculation_equation"),
    );
    assert_eq!(flag.field_type, FieldType::Bool);
    assert_eq!(flag.sql_type(), SqlType::Boolean);
}

#[test]
fn bad_names_are_skipped_and_archived_definitions_left_out() {
    let deals = table(TableName::DEALS);
    let mut archived = definition("old", "string", "text");
    archived.archived = true;
    let definitions = [
        definition("good", "string", "text"),
        definition("bad\"name", "string", "text"),
        archived,
    ];
    let mapped = map_properties(&deals, &definitions, MappingContext::default());
    assert_eq!(mapped.fields.len(), 1);
    assert_eq!(mapped.fields[0].name.as_str(), "good");
    assert_eq!(mapped.skipped.len(), 1);
    assert!(
        mapped.skipped[0]
            .to_string()
            .starts_with("property \"bad\\\"name\"")
    );
}

/// Every vendored definition file (captured from real portals where possible) maps
/// without error, with the expected types for well-known properties.
#[test]
fn maps_every_vendored_property_definition() {
    let files: [(&str, &str); 10] = [
        (
            "deals",
            include_str!("../../../hubspot-sim/data/properties/deals.json"),
        ),
        (
            "companies",
            include_str!("../../../hubspot-sim/data/properties/companies.json"),
        ),
        (
            "contacts",
            include_str!("../../../hubspot-sim/data/properties/contacts.json"),
        ),
        (
            "line_items",
            include_str!("../../../hubspot-sim/data/properties/line_items.json"),
        ),
        (
            "meetings",
            include_str!("../../../hubspot-sim/data/properties/meetings.json"),
        ),
        (
            "calls",
            include_str!("../../../hubspot-sim/data/properties/calls.json"),
        ),
        (
            "emails",
            include_str!("../../../hubspot-sim/data/properties/emails.json"),
        ),
        (
            "tasks",
            include_str!("../../../hubspot-sim/data/properties/tasks.json"),
        ),
        (
            "goals",
            include_str!("../../../hubspot-sim/data/properties/goal_targets.json"),
        ),
        // Not a table of ours; mapped as a table without a currency field.
        (
            "companies",
            include_str!("../../../hubspot-sim/data/properties/products.json"),
        ),
    ];
    let pipelines = [default_pipeline()];
    let owners = [owner("41629779", Some("Ada"), Some("Lovelace"), None)];
    let context = MappingContext {
        pipelines: &pipelines,
        owners: &owners,
    };
    let mut all = std::collections::BTreeMap::new();
    for (table_name, raw) in files {
        let spec = table(TableName::parse(table_name).unwrap());
        let definitions: Vec<PropertyDefinition> = serde_json::from_str(raw).unwrap();
        let mapped = map_properties(&spec, &definitions, context);
        assert!(
            mapped.skipped.is_empty(),
            "{table_name}: {:?}",
            mapped.skipped
        );
        assert_eq!(mapped.fields.len(), definitions.len());
        for field in &mapped.fields {
            // Sanity for every field: amounts carry a currency, only amounts do,
            // only picklists and users are multi, long names still fit a column.
            assert_eq!(
                field.currency_property.is_some(),
                field.field_type == FieldType::Amount,
                "{table_name}.{}",
                field.name
            );
            if field.multi {
                assert!(matches!(
                    field.field_type,
                    FieldType::Picklist | FieldType::User
                ));
            }
            assert!(field.name.column_name().len() <= crate::ids::POSTGRES_IDENTIFIER_MAX);
            assert!(field.options.iter().all(|o| !o.value.is_empty()));
        }
        for field in mapped.fields {
            all.insert(format!("{}.{}", spec.name, field.name), field);
        }
    }
    let type_of = |key: &str| {
        let field = all.get(key).unwrap_or_else(|| panic!("{key} missing"));
        (field.field_type, field.multi)
    };
    assert_eq!(type_of("deals.amount"), (FieldType::Amount, false));
    assert_eq!(type_of("deals.hs_tcv"), (FieldType::Amount, false));
    assert_eq!(type_of("line_items.price"), (FieldType::Amount, false));
    assert_eq!(type_of("line_items.amount"), (FieldType::Amount, false));
    assert_eq!(
        type_of("companies.annualrevenue"),
        (FieldType::Number, false)
    );
    assert_eq!(
        type_of("contacts.total_revenue"),
        (FieldType::Number, false)
    );
    assert_eq!(type_of("deals.hubspot_owner_id"), (FieldType::User, false));
    assert_eq!(
        type_of("contacts.hubspot_owner_id"),
        (FieldType::User, false)
    );
    assert_eq!(type_of("deals.hs_all_owner_ids"), (FieldType::User, true));
    assert_eq!(
        type_of("meetings.hs_attendee_owner_ids"),
        (FieldType::User, true)
    );
    assert_eq!(type_of("emails.hs_owner_ids_to"), (FieldType::User, true));
    assert_eq!(type_of("deals.dealstage"), (FieldType::Picklist, false));
    assert_eq!(type_of("deals.pipeline"), (FieldType::Picklist, false));
    assert_eq!(type_of("deals.closedate"), (FieldType::Date, false));
    assert_eq!(type_of("deals.dealname"), (FieldType::String, false));
    assert_eq!(
        type_of("contacts.lifecyclestage"),
        (FieldType::Picklist, false)
    );
    assert_eq!(
        type_of("contacts.hs_user_ids_of_all_owners"),
        (FieldType::Picklist, true)
    );
    assert_eq!(type_of("goals.hs_target_amount").0, FieldType::Number);
    assert_eq!(
        type_of("companies.hs_is_target_account"),
        (FieldType::Bool, false)
    );

    let stage = &all["deals.dealstage"];
    assert_eq!(stage.option_label("closedwon"), Some("Closed Won"));
    assert_eq!(
        all["deals.pipeline"].option_label("default"),
        Some("Sales Pipeline")
    );
    assert_eq!(
        all["deals.hubspot_owner_id"].option_label("41629779"),
        Some("Ada Lovelace")
    );
    // lifecyclestage is external but carries its own options: they are kept.
    assert_eq!(
        all["contacts.lifecyclestage"].option_label("customer"),
        Some("Customer")
    );
    assert_eq!(all["deals.closedate"].sql_type(), SqlType::Timestamptz);
    // A date-typed property stays a calendar date.
    let date_only = all
        .values()
        .find(|f| f.hubspot_type == "date")
        .expect("some date property");
    assert_eq!(date_only.sql_type(), SqlType::Date);
    // Odd pairs from real portals map by type.
    assert_eq!(
        type_of("deals.hs_analytics_latest_source_timestamp").0,
        FieldType::Date
    );
    let phone = all
        .values()
        .find(|f| f.hubspot_type == "phone_number")
        .unwrap();
    assert_eq!(phone.field_type, FieldType::String);
    let coordinates = all
        .values()
        .find(|f| f.hubspot_type == "object_coordinates")
        .unwrap();
    assert_eq!(coordinates.field_type, FieldType::String);
}

#[test]
fn field_types_have_stable_names() {
    for field_type in [
        FieldType::Amount,
        FieldType::Number,
        FieldType::User,
        FieldType::String,
        FieldType::Picklist,
        FieldType::Bool,
        FieldType::Date,
    ] {
        assert_eq!(
            serde_json::to_value(field_type).unwrap(),
            serde_json::json!(field_type.as_str())
        );
    }
    let field = map(TableName::DEALS, &definition("amount", "number", "number"));
    let back: Field = serde_json::from_str(&serde_json::to_string(&field).unwrap()).unwrap();
    assert_eq!(back, field);
}
