use serde_json::json;

use super::*;
use crate::ids::PropertyName;

fn field(field_type: FieldType, hubspot_type: &str, multi: bool) -> Field {
    Field {
        name: PropertyName::parse("x").unwrap(),
        label: "X".into(),
        field_type,
        multi,
        hubspot_type: hubspot_type.into(),
        hubspot_field_type: String::new(),
        options: Vec::new(),
        currency_property: None,
        calculated: false,
        hidden: false,
    }
}

fn parsed(field: &Field, raw: &str) -> Value {
    let outcome = parse_value(field, Some(raw));
    assert!(!outcome.unparsed, "{raw:?} did not parse: {outcome:?}");
    outcome.value
}

fn unparsed(field: &Field, raw: &str) {
    let outcome = parse_value(field, Some(raw));
    assert!(outcome.unparsed, "{raw:?} parsed as {:?}", outcome.value);
    assert_eq!(
        outcome.value,
        Value::String(raw.to_owned()),
        "raw text kept"
    );
}

#[test]
fn null_and_empty_are_null_for_every_type() {
    for field_type in [
        FieldType::Amount,
        FieldType::Number,
        FieldType::User,
        FieldType::String,
        FieldType::Picklist,
        FieldType::Bool,
        FieldType::Date,
    ] {
        for multi in [false, true] {
            let field = field(field_type, "datetime", multi);
            for raw in [None, Some("")] {
                let outcome = parse_value(&field, raw);
                assert_eq!(outcome.value, Value::Null);
                assert!(!outcome.unparsed);
            }
        }
    }
}

#[test]
fn numbers() {
    let number = field(FieldType::Number, "number", false);
    assert_eq!(parsed(&number, "360000"), json!(360000));
    assert_eq!(parsed(&number, "-42"), json!(-42));
    assert_eq!(parsed(&number, " 7 "), json!(7));
    assert_eq!(parsed(&number, "12.5"), json!(12.5));
    assert_eq!(parsed(&number, "5.0"), json!(5));
    assert_eq!(parsed(&number, "1e3"), json!(1000));
    // Precision beyond f64 is not kept.
    assert_eq!(
        parsed(
            &number,
            "0.200000000000000011102230246251565404236316680908203125"
        ),
        json!(0.2)
    );
    // Beyond i64: a float.
    assert_eq!(parsed(&number, "99999999999999999999"), json!(1e20));
    assert_eq!(parsed(&number, "9223372036854775807"), json!(i64::MAX));
    for junk in [
        "N/A",
        "1,000",
        "3092727991;3881228353;15895321999",
        "NaN",
        "inf",
        "-infinity",
        "1e999",
        "--1",
        "-",
        "12abc",
        "$5",
    ] {
        unparsed(&number, junk);
    }
    let amount = field(FieldType::Amount, "number", false);
    assert_eq!(parsed(&amount, "1999.99"), json!(1999.99));
    unparsed(&amount, "N/A");
}

#[test]
fn booleans() {
    let flag = field(FieldType::Bool, "bool", false);
    assert_eq!(parsed(&flag, "true"), json!(true));
    assert_eq!(parsed(&flag, "false"), json!(false));
    assert_eq!(parsed(&flag, "TRUE"), json!(true));
    assert_eq!(parsed(&flag, "False"), json!(false));
    for junk in ["yes", "1", "0", "t", "falsey"] {
        unparsed(&flag, junk);
    }
}

#[test]
fn datetimes() {
    let datetime = field(FieldType::Date, "datetime", false);
    let cases = [
        ("2024-09-11T13:27:39.356Z", "2024-09-11T13:27:39.356Z"),
        ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000Z"),
        ("2024-01-01T00:00:00.5Z", "2024-01-01T00:00:00.500Z"),
        // Microseconds and nanoseconds are truncated to the millisecond.
        ("2020-02-23T01:52:12.893826Z", "2020-02-23T01:52:12.893Z"),
        ("2020-02-23T01:52:12.123456789Z", "2020-02-23T01:52:12.123Z"),
        ("2024-01-01T02:00:00+02:00", "2024-01-01T00:00:00.000Z"),
        ("2024-01-01T00:00:00.000-05:30", "2024-01-01T05:30:00.000Z"),
        ("2024-01-01T10:00:00", "2024-01-01T10:00:00.000Z"),
        ("2024-01-01 10:00:00.25", "2024-01-01T10:00:00.250Z"),
        ("1672531200000", "2023-01-01T00:00:00.000Z"),
        ("1672531200000.0", "2023-01-01T00:00:00.000Z"),
        ("1672531200123.6", "2023-01-01T00:00:00.124Z"),
        ("2024-06-01", "2024-06-01T00:00:00.000Z"),
        ("-86400000", "1969-12-31T00:00:00.000Z"),
    ];
    for (raw, expected) in cases {
        assert_eq!(parsed(&datetime, raw), json!(expected), "{raw}");
    }
    for junk in [
        "yesterday",
        "2024-13-01",
        "2024-02-30T00:00:00Z",
        "12:00",
        "1.2.3",
        "NaN",
    ] {
        unparsed(&datetime, junk);
    }
}

#[test]
fn dates() {
    let date = field(FieldType::Date, "date", false);
    assert_eq!(parsed(&date, "2019-10-31"), json!("2019-10-31"));
    // Epoch-ms midnight, as HubSpot sometimes sends dates.
    assert_eq!(parsed(&date, "1430438400000"), json!("2015-05-01"));
    assert_eq!(
        parsed(&date, "2015-05-01T00:00:00.000Z"),
        json!("2015-05-01")
    );
    // Not midnight: the UTC day (tolerant, nothing HubSpot writes).
    assert_eq!(
        parsed(&date, "2015-05-01T23:59:59+00:00"),
        json!("2015-05-01")
    );
    unparsed(&date, "31/10/2019");
    unparsed(&date, "N/A");
}

/// What lands in `values` must cast in PostgreSQL, which has no year 0 and whose typed
/// views expect four-digit years: anything outside years 1–9999 stays raw text.
#[test]
fn dates_outside_years_1_to_9999_stay_raw() {
    let date = field(FieldType::Date, "date", false);
    let datetime = field(FieldType::Date, "datetime", false);
    assert_eq!(parsed(&date, "0001-01-01"), json!("0001-01-01"));
    assert_eq!(parsed(&date, "9999-12-31"), json!("9999-12-31"));
    assert_eq!(
        parsed(&datetime, "9999-12-31T23:59:59.999Z"),
        json!("9999-12-31T23:59:59.999Z")
    );
    for junk in [
        "0000-01-01",
        // 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z in epoch milliseconds.
        "-62167219200000",
        "253402300800000",
        "0000-06-15T12:00:00Z",
    ] {
        unparsed(&date, junk);
        unparsed(&datetime, junk);
    }
}

#[test]
fn multi_select_splits_on_semicolons() {
    let multi = field(FieldType::Picklist, "enumeration", true);
    assert_eq!(
        parsed(&multi, "chocolate;strawberry"),
        json!(["chocolate", "strawberry"])
    );
    assert_eq!(parsed(&multi, ";;a;;b;"), json!(["a", "b"]));
    assert_eq!(parsed(&multi, "single"), json!(["single"]));
    assert_eq!(parsed(&multi, ";;"), json!([]));
    let single = field(FieldType::Picklist, "enumeration", false);
    assert_eq!(parsed(&single, "a;b"), json!("a;b"));
}

#[test]
fn users_are_owner_ids() {
    let user = field(FieldType::User, "enumeration", false);
    assert_eq!(parsed(&user, "41629779"), json!("41629779"));
    assert_eq!(parsed(&user, " 41629779 "), json!("41629779"));
    unparsed(&user, "ada@example.com");
    let users = field(FieldType::User, "enumeration", true);
    assert_eq!(parsed(&users, "1;22;;333"), json!(["1", "22", "333"]));
    unparsed(&users, "1;bob");
}

#[test]
fn strings_are_kept_verbatim() {
    let text = field(FieldType::String, "string", false);
    assert_eq!(parsed(&text, "  spaced  "), json!("  spaced  "));
    assert_eq!(parsed(&text, "N/A"), json!("N/A"));
    let coordinates = field(FieldType::String, "object_coordinates", false);
    assert_eq!(parsed(&coordinates, "0-1;123"), json!("0-1;123"));
}

#[test]
fn records_count_unparsed_values_and_keep_unknown_properties() {
    let amount = Field {
        name: PropertyName::parse("amount").unwrap(),
        ..field(FieldType::Amount, "number", false)
    };
    let closedate = Field {
        name: PropertyName::parse("closedate").unwrap(),
        ..field(FieldType::Date, "datetime", false)
    };
    let fields = [amount, closedate];
    let properties = [
        ("amount", Some("N/A")),
        ("closedate", Some("1672531200000.0")),
        ("brand_new_property", Some("kept")),
        ("blank_unknown", Some("")),
        ("null_unknown", None),
    ];
    let record = parse_record(
        |name| fields.iter().find(|f| f.name.as_str() == name),
        properties,
    );
    assert_eq!(record.unparsed.len(), 1);
    assert_eq!(record.unparsed["amount"], json!("N/A"));
    assert_eq!(record.values["amount"], Value::Null);
    assert_eq!(
        record.values["closedate"],
        json!("2023-01-01T00:00:00.000Z")
    );
    assert_eq!(record.values["brand_new_property"], json!("kept"));
    assert_eq!(record.values["blank_unknown"], Value::Null);
    assert_eq!(record.values["null_unknown"], Value::Null);
}
