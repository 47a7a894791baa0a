use chrono::{DateTime, NaiveDate, Utc};
use hubsync_core::metadata::Owner;
use hubsync_core::{ConnectionId, Field, FieldType, TableName};
use hubsync_store::{
    AssociationRow, Error, RecordRow, rebuild_table_view, rebuild_views, rebuild_views_within,
    replace_associations, replace_fields, replace_owners, upsert_records, views_outdated,
};
use serde_json::{Map, Value, json};
use sqlx::{PgConnection, PgPool, Row};

use crate::common::{TestResult, at, connection_with_tables, field, parsed_deal};

/// Column name → data type of a view, in column order.
async fn view_columns(conn: &mut PgConnection, schema: &str, view: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
    )
    .bind(schema)
    .bind(view)
    .fetch_all(conn)
    .await
    .unwrap()
}

async fn write(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    fields: &[Field],
    id: u64,
    modified_ms: i64,
    raw: Value,
) {
    let row = parsed_deal(fields, id, modified_ms, raw);
    upsert_records(conn, connection_id, &TableName::DEALS, None, &[row])
        .await
        .unwrap();
}

fn deal_fields() -> Vec<Field> {
    vec![
        field("amount", FieldType::Number, "number", false),
        field("is_won", FieldType::Bool, "bool", false),
        field("closedate", FieldType::Date, "date", false),
        field("hs_lastmodifieddate", FieldType::Date, "datetime", false),
        field("dealname", FieldType::String, "string", false),
        field("tags", FieldType::Picklist, "enumeration", true),
    ]
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn views_give_typed_columns_and_keep_unparsed_text(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 42).await;
    let fields = deal_fields();
    replace_fields(&mut conn, c.id, &TableName::DEALS, &fields, &[]).await?;
    write(
        &mut conn,
        c.id,
        &fields,
        1,
        5_000,
        json!({
            "amount": "1234.5", "is_won": "true", "closedate": "2024-02-29",
            "hs_lastmodifieddate": "2024-03-01T10:11:12.345Z", "dealname": "Big",
            "tags": "a;b;c",
        }),
    )
    .await;
    write(
        &mut conn,
        c.id,
        &fields,
        2,
        5_000,
        json!({
            "amount": "N/A", "is_won": "", "closedate": "2024-02-30", "dealname": "Odd",
        }),
    )
    .await;

    let report = rebuild_views(&mut conn, c.id).await?;
    assert_eq!(report.schema.as_str(), "hubspot_42");
    assert!(report.views.iter().any(|v| v == "deals"));
    assert!(report.views.iter().any(|v| v == "owners"));
    assert!(report.views.iter().any(|v| v == "associations"));

    let columns = view_columns(&mut conn, "hubspot_42", "deals").await;
    let expected: Vec<(&str, &str)> = vec![
        ("id", "bigint"),
        ("amount", "numeric"),
        ("closedate", "date"),
        ("dealname", "text"),
        ("hs_lastmodifieddate", "timestamp with time zone"),
        ("is_won", "boolean"),
        ("tags", "ARRAY"),
        ("_deleted_at", "timestamp with time zone"),
        ("_modified_at", "timestamp with time zone"),
        ("_created_at", "timestamp with time zone"),
        ("_synced_at", "timestamp with time zone"),
        ("_unparsed", "jsonb"),
    ];
    let got: Vec<(&str, &str)> = columns
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    assert_eq!(got, expected);

    let row = sqlx::query(
        "SELECT amount::text AS amount, is_won, closedate, hs_lastmodifieddate, dealname, tags,
                _unparsed,
                _modified_at, _deleted_at
         FROM hubspot_42.deals WHERE id = 1",
    )
    .fetch_one(&mut *conn)
    .await?;
    assert_eq!(row.get::<String, _>("amount"), "1234.5");
    assert!(row.get::<bool, _>("is_won"));
    assert_eq!(
        row.get::<NaiveDate, _>("closedate"),
        NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
    );
    assert_eq!(
        row.get::<DateTime<Utc>, _>("hs_lastmodifieddate"),
        "2024-03-01T10:11:12.345Z".parse::<DateTime<Utc>>()?
    );
    assert_eq!(row.get::<String, _>("dealname"), "Big");
    assert_eq!(row.get::<Vec<String>, _>("tags"), vec!["a", "b", "c"]);
    assert_eq!(row.get::<Value, _>("_unparsed"), json!({}));
    assert_eq!(row.get::<DateTime<Utc>, _>("_modified_at"), at(5_000));
    assert_eq!(row.get::<Option<DateTime<Utc>>, _>("_deleted_at"), None);

    // Values that did not parse: NULL in their typed column, raw text in _unparsed.
    let row = sqlx::query(
        "SELECT amount::text AS amount, is_won, closedate, tags, _unparsed
         FROM hubspot_42.deals WHERE id = 2",
    )
    .fetch_one(&mut *conn)
    .await?;
    assert_eq!(row.get::<Option<String>, _>("amount"), None);
    assert_eq!(row.get::<Option<bool>, _>("is_won"), None);
    assert_eq!(row.get::<Option<NaiveDate>, _>("closedate"), None);
    assert_eq!(row.get::<Option<Vec<String>>, _>("tags"), None);
    assert_eq!(
        row.get::<Value, _>("_unparsed"),
        json!({"amount": "N/A", "closedate": "2024-02-30"})
    );

    // A connection's view shows only its own records.
    let other = connection_with_tables(&mut conn, 43).await;
    write(
        &mut conn,
        other.id,
        &fields,
        1,
        5_000,
        json!({"amount": "1"}),
    )
    .await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM hubspot_42.deals")
        .fetch_one(&mut *conn)
        .await?;
    assert_eq!(count, 2);
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn views_follow_field_drift(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 7).await;
    let deals = TableName::DEALS;
    let mut fields = vec![
        field("amount", FieldType::Number, "number", false),
        field("score", FieldType::String, "string", false),
    ];
    replace_fields(&mut conn, c.id, &deals, &fields, &[]).await?;
    write(
        &mut conn,
        c.id,
        &fields,
        1,
        5_000,
        json!({"amount": "10", "score": "high"}),
    )
    .await;
    rebuild_views(&mut conn, c.id).await?;

    // A property appears, one vanishes, one changes type.
    fields.retain(|f| f.name.as_str() != "amount");
    fields[0] = field("score", FieldType::Number, "number", false);
    fields.push(field("region", FieldType::String, "string", false));
    let changes = replace_fields(&mut conn, c.id, &deals, &fields, &[]).await?;
    assert!(changes.view_changed());
    let skipped = rebuild_table_view(&mut conn, c.id, &deals).await?;
    assert!(skipped.is_empty());
    let names: Vec<String> = view_columns(&mut conn, "hubspot_7", "deals")
        .await
        .into_iter()
        .filter(|(name, _)| !name.starts_with('_'))
        .map(|(name, data_type)| format!("{name}:{data_type}"))
        .collect();
    assert_eq!(names, vec!["id:bigint", "region:text", "score:numeric"]);

    // The old row still holds text where a number is now expected: NULL, not an error.
    write(
        &mut conn,
        c.id,
        &fields,
        2,
        5_000,
        json!({"score": "42", "region": "EU"}),
    )
    .await;
    // `score + 0` proves the column is numeric, not text that looks like a number.
    let rows: Vec<(i64, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT id, (score + 0)::text, region FROM hubspot_7.deals ORDER BY id")
            .fetch_all(&mut *conn)
            .await?;
    assert_eq!(
        rows,
        vec![
            (1, None, None),
            (2, Some("42".to_owned()), Some("EU".to_owned()))
        ]
    );
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn long_property_names_become_unique_short_columns(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 8).await;
    let long_a = "hs_analytics_last_touch_converting_campaign_timestamp_latest_value_81a64e30";
    let long_b = "hs_analytics_last_touch_converting_campaign_timestamp_latest_value_99999999";
    let fields = vec![
        field(long_a, FieldType::String, "string", false),
        field(long_b, FieldType::String, "string", false),
    ];
    replace_fields(&mut conn, c.id, &TableName::DEALS, &fields, &[]).await?;
    write(
        &mut conn,
        c.id,
        &fields,
        1,
        5_000,
        json!({long_a: "a", long_b: "b"}),
    )
    .await;
    rebuild_views(&mut conn, c.id).await?;

    let column_a = fields[0].name.column_name().into_owned();
    let column_b = fields[1].name.column_name().into_owned();
    assert!(column_a.len() <= 63 && column_b.len() <= 63);
    assert_ne!(column_a, column_b);
    let columns: Vec<String> = view_columns(&mut conn, "hubspot_8", "deals")
        .await
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert!(
        columns.contains(&column_a) && columns.contains(&column_b),
        "{columns:?}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT \"{column_a}\" AS a, \"{column_b}\" AS b FROM hubspot_8.deals"
    )))
    .fetch_one(&mut *conn)
    .await?;
    assert_eq!(
        (row.get::<String, _>("a"), row.get::<String, _>("b")),
        ("a".to_owned(), "b".to_owned())
    );
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn owners_and_associations_views_and_reserved_columns(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 9).await;
    let owner: Owner = serde_json::from_value(json!({
        "id": "77", "firstName": "Ann", "lastName": "Lee", "email": "ann@example.com",
        "archived": false, "teams": []
    }))?;
    replace_owners(&mut conn, c.id, &[owner]).await?;
    replace_associations(
        &mut conn,
        c.id,
        &TableName::DEALS,
        &[1],
        &[(
            TableName::COMPANIES,
            vec![AssociationRow {
                from_id: 1,
                to_id: 2,
                type_id: 5,
                category: "HUBSPOT_DEFINED".to_owned(),
                label: Some("Primary".to_owned()),
            }],
        )],
    )
    .await?;
    // A property whose column would clash with one of ours is left out of the view.
    let fields = vec![
        field("id", FieldType::String, "string", false),
        field("amount", FieldType::Number, "number", false),
    ];
    replace_fields(&mut conn, c.id, &TableName::DEALS, &fields, &[]).await?;
    let report = rebuild_views(&mut conn, c.id).await?;
    assert_eq!(
        report.skipped_columns,
        vec![(TableName::DEALS, "id".to_owned())]
    );

    let (id, name, email): (String, String, String) =
        sqlx::query_as("SELECT id, name, email FROM hubspot_9.owners")
            .fetch_one(&mut *conn)
            .await?;
    assert_eq!(
        (id.as_str(), name.as_str(), email.as_str()),
        ("77", "Ann Lee", "ann@example.com")
    );
    let (from_table, from_id, to_table, to_id, label): (String, i64, String, i64, String) =
        sqlx::query_as(
            "SELECT from_table, from_id, to_table, to_id, label FROM hubspot_9.associations",
        )
        .fetch_one(&mut *conn)
        .await?;
    assert_eq!(
        (
            from_table.as_str(),
            from_id,
            to_table.as_str(),
            to_id,
            label.as_str()
        ),
        ("deals", 1, "companies", 2, "Primary")
    );
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn a_failed_rebuild_leaves_the_old_view(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 10).await;
    let deals = TableName::DEALS;
    let fields = vec![field("amount", FieldType::Number, "number", false)];
    replace_fields(&mut conn, c.id, &deals, &fields, &[]).await?;
    rebuild_views(&mut conn, c.id).await?;
    // A user's own view on top of ours: we refuse to drop it silently.
    sqlx::query(
        "CREATE VIEW hubspot_10.big_deals AS SELECT id FROM hubspot_10.deals WHERE amount > 100",
    )
    .execute(&mut *conn)
    .await?;
    let more = vec![
        field("amount", FieldType::Number, "number", false),
        field("region", FieldType::String, "string", false),
    ];
    replace_fields(&mut conn, c.id, &deals, &more, &[]).await?;
    let error = rebuild_table_view(&mut conn, c.id, &deals)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ViewInUse { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("hubspot_10.deals") && message.contains("big_deals"),
        "the message names the view and what depends on it: {message}"
    );
    let columns = view_columns(&mut conn, "hubspot_10", "deals").await;
    assert!(columns.iter().any(|(name, _)| name == "amount"));
    assert!(!columns.iter().any(|(name, _)| name == "region"));
    Ok(())
}

/// A date column's cast never raises, whatever text `values` holds under it: a field
/// retyped from string to date keeps its old text until the record syncs again, and
/// one `2024-02-30` must not break every query on the view.
#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn date_casts_never_fail_on_text_that_only_looks_like_a_date(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 11).await;
    let deals = TableName::DEALS;
    let fields = vec![
        field("day", FieldType::Date, "date", false),
        field("moment", FieldType::Date, "datetime", false),
    ];
    replace_fields(&mut conn, c.id, &deals, &fields, &[]).await?;
    // (day, moment) as they may sit in `values` after a retype, and what the view
    // must show for them.
    let cases: Vec<(&str, &str, Option<&str>, Option<&str>)> = vec![
        (
            "2024-02-29",
            "2024-02-29T23:59:59.999Z",
            Some("2024-02-29"),
            Some("2024-02-29 23:59:59.999+00"),
        ),
        ("2024-02-30", "2024-02-30T00:00:00Z", None, None),
        ("2023-02-29", "2023-13-01T00:00:00Z", None, None),
        (
            "2000-02-29",
            "2000-02-29T10:00:00+05:30",
            Some("2000-02-29"),
            Some("2000-02-29 04:30:00+00"),
        ),
        ("1900-02-29", "1900-02-29T00:00:00Z", None, None),
        ("0000-01-01", "0000-01-01T00:00:00Z", None, None),
        ("2024-04-31", "2024-01-01T24:00:00Z", None, None),
        ("2024-00-10", "2024-01-01T00:60:00Z", None, None),
        ("2024-01-00", "2024-01-01T00:00:60Z", None, None),
        (
            "2024-12-31",
            "2024-01-01T00:00:00+16:00",
            Some("2024-12-31"),
            None,
        ),
        ("2024-1-1", "2024-01-01T00:00:00-03:60", None, None),
    ];
    for (index, (day, moment, _, _)) in cases.iter().enumerate() {
        let mut values = Map::new();
        values.insert("day".into(), json!(day));
        values.insert("moment".into(), json!(moment));
        let row = RecordRow {
            id: index as u64 + 1,
            name: None,
            currency: None,
            values,
            unparsed: Map::new(),
            created_at: None,
            modified_at: at(5_000),
            deleted_at: None,
        };
        upsert_records(&mut conn, c.id, &deals, None, &[row]).await?;
    }
    rebuild_views(&mut conn, c.id).await?;

    let rows: Vec<(i64, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT id, day::text, (moment AT TIME ZONE 'UTC')::text FROM hubspot_11.deals ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let got: Vec<(Option<String>, Option<String>)> = rows
        .into_iter()
        .map(|(_, day, moment)| (day, moment))
        .collect();
    let expected: Vec<(Option<String>, Option<String>)> = cases
        .iter()
        .map(|(_, _, day, moment)| {
            (
                day.map(str::to_owned),
                // `AT TIME ZONE 'UTC'` drops the offset from the text.
                moment.map(|m| m.trim_end_matches("+00").to_owned()),
            )
        })
        .collect();
    assert_eq!(got, expected);
    Ok(())
}

/// A rebuild that failed (here: a user's view depends on ours) leaves the views behind
/// their fields; `views_outdated` says so until a rebuild succeeds, so the next
/// refresh rebuilds them even though the fields no longer change.
#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn views_behind_their_fields_are_reported_until_rebuilt(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 12).await;
    let deals = TableName::DEALS;
    assert!(views_outdated(&mut conn, c.id).await?, "no views yet");
    replace_fields(
        &mut conn,
        c.id,
        &deals,
        &[field("amount", FieldType::Number, "number", false)],
        &[],
    )
    .await?;
    rebuild_views(&mut conn, c.id).await?;
    assert!(!views_outdated(&mut conn, c.id).await?);

    sqlx::query("CREATE VIEW hubspot_12.mine AS SELECT id FROM hubspot_12.deals")
        .execute(&mut *conn)
        .await?;
    let more = [
        field("amount", FieldType::Number, "number", false),
        field("region", FieldType::String, "string", false),
    ];
    let changes = replace_fields(&mut conn, c.id, &deals, &more, &[]).await?;
    assert!(changes.view_changed());
    assert!(rebuild_views(&mut conn, c.id).await.is_err());
    // The same fields again: nothing changes in `fields`, but the view still lags.
    let again = replace_fields(&mut conn, c.id, &deals, &more, &[]).await?;
    assert!(!again.view_changed());
    assert!(views_outdated(&mut conn, c.id).await?);

    sqlx::query("DROP VIEW hubspot_12.mine")
        .execute(&mut *conn)
        .await?;
    rebuild_views(&mut conn, c.id).await?;
    assert!(!views_outdated(&mut conn, c.id).await?);
    let columns = view_columns(&mut conn, "hubspot_12", "deals").await;
    assert!(columns.iter().any(|(name, _)| name == "region"));

    // A view made otherwise (an older hubsync, a hand edit) is outdated too.
    sqlx::query("COMMENT ON VIEW hubspot_12.owners IS NULL")
        .execute(&mut *conn)
        .await?;
    assert!(views_outdated(&mut conn, c.id).await?);
    Ok(())
}

/// A long query reading a view must neither stall the rebuild forever nor, through the
/// rebuild's queued exclusive lock, every other reader: the rebuild gives up after its
/// lock timeout, changes nothing, and a later one succeeds.
#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn a_view_held_by_a_long_query_is_not_waited_for(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 13).await;
    let deals = TableName::DEALS;
    replace_fields(
        &mut conn,
        c.id,
        &deals,
        &[field("amount", FieldType::Number, "number", false)],
        &[],
    )
    .await?;
    rebuild_views(&mut conn, c.id).await?;

    // A reader inside a transaction keeps its lock on the view until it ends.
    let mut reader = pool.acquire().await?;
    sqlx::query("BEGIN").execute(&mut *reader).await?;
    sqlx::query("SELECT count(*) FROM hubspot_13.deals")
        .execute(&mut *reader)
        .await?;

    let more = [
        field("amount", FieldType::Number, "number", false),
        field("region", FieldType::String, "string", false),
    ];
    replace_fields(&mut conn, c.id, &deals, &more, &[]).await?;
    let error = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        rebuild_views_within(&mut conn, c.id, std::time::Duration::from_millis(200)),
    )
    .await
    .expect("the rebuild gives up instead of waiting for the reader")
    .unwrap_err();
    assert!(matches!(error, Error::ViewLocked { .. }), "{error:?}");
    assert!(error.to_string().contains("hubspot_13.deals"), "{error}");
    assert!(views_outdated(&mut conn, c.id).await?);
    // The lock timeout did not outlive the rebuild's transaction.
    let timeout: String = sqlx::query_scalar("SHOW lock_timeout")
        .fetch_one(&mut *conn)
        .await?;
    assert_eq!(timeout, "0");

    sqlx::query("COMMIT").execute(&mut *reader).await?;
    rebuild_views(&mut conn, c.id).await?;
    assert!(!views_outdated(&mut conn, c.id).await?);
    Ok(())
}
