use hubsync_core::{FieldType, TableName};
use hubsync_store::{
    AssociationRow, Error, PageProgress, RecordRow, StoredRecord, count_associations,
    count_records, get_chunk, get_record, list_associations, list_records, record_page,
    replace_associations, start_chunk, upsert_records,
};
use serde_json::{Map, Value, json};
use sqlx::{Connection as _, PgPool};

use crate::common::{TestResult, at, connection_with_tables, field, parsed_deal, run_with_chunks};

fn row(id: u64, modified_ms: i64, amount: i64) -> RecordRow {
    let mut values = Map::new();
    values.insert("amount".to_owned(), json!(amount));
    values.insert("dealname".to_owned(), json!(format!("deal {id}")));
    RecordRow {
        id,
        name: Some(format!("deal {id}")),
        currency: Some("EUR".to_owned()),
        values,
        unparsed: Map::new(),
        created_at: Some(at(1_000)),
        modified_at: at(modified_ms),
        deleted_at: None,
    }
}

fn amount(record: &StoredRecord) -> &Value {
    &record.values["amount"]
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn an_older_version_never_replaces_a_newer_one(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 1).await;
    let deals = TableName::DEALS;

    let applied = upsert_records(
        &mut conn,
        c.id,
        &deals,
        None,
        &[row(1, 5_000, 10), row(2, 5_000, 20)],
    )
    .await?;
    assert_eq!(applied, vec![1, 2]);

    // An out-of-order older page: skipped, and its ids are not reported as applied.
    let applied = upsert_records(&mut conn, c.id, &deals, None, &[row(1, 4_000, 99)]).await?;
    assert!(applied.is_empty());
    let stored = get_record(&mut conn, c.id, &deals, 1).await?.unwrap();
    assert_eq!(amount(&stored), &json!(10));
    assert_eq!(stored.modified_at, at(5_000));

    // The same modified time applies (association-only changes don't move it).
    let applied = upsert_records(&mut conn, c.id, &deals, None, &[row(1, 5_000, 11)]).await?;
    assert_eq!(applied, vec![1]);
    assert_eq!(
        amount(&get_record(&mut conn, c.id, &deals, 1).await?.unwrap()),
        &json!(11)
    );

    // Newer applies, deletion included.
    let mut deleted = row(2, 6_000, 21);
    deleted.deleted_at = Some(at(6_000));
    upsert_records(&mut conn, c.id, &deals, None, &[deleted]).await?;
    let stored = get_record(&mut conn, c.id, &deals, 2).await?.unwrap();
    assert_eq!(stored.deleted_at, Some(at(6_000)));

    // One id twice in a page: the newest version wins, whatever the order.
    let applied = upsert_records(
        &mut conn,
        c.id,
        &deals,
        None,
        &[row(3, 9_000, 2), row(3, 8_000, 1)],
    )
    .await?;
    assert_eq!(applied, vec![3]);
    assert_eq!(
        amount(&get_record(&mut conn, c.id, &deals, 3).await?.unwrap()),
        &json!(2)
    );

    assert!(matches!(
        upsert_records(
            &mut conn,
            c.id,
            &TableName::parse("cars")?,
            None,
            &[row(1, 1, 1)]
        )
        .await,
        Err(Error::TableNotFound { .. })
    ));
    assert!(
        upsert_records(&mut conn, c.id, &deals, None, &[])
            .await?
            .is_empty()
    );
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn replaying_a_page_changes_nothing(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 1).await;
    let deals = TableName::DEALS;
    let page: Vec<RecordRow> = (1..=50)
        .map(|id| row(id, 5_000 + id as i64, id as i64))
        .collect();
    upsert_records(&mut conn, c.id, &deals, None, &page).await?;
    let before = list_records(&mut conn, c.id, &deals, None, 1_000).await?;
    let applied = upsert_records(&mut conn, c.id, &deals, None, &page).await?;
    assert_eq!(applied.len(), 50);
    let after = list_records(&mut conn, c.id, &deals, None, 1_000).await?;
    assert_eq!(before.len(), 50);
    let strip = |records: Vec<StoredRecord>| -> Vec<StoredRecord> {
        records
            .into_iter()
            .map(|mut r| {
                r.synced_at = at(0);
                r
            })
            .collect()
    };
    assert_eq!(strip(before), strip(after));
    assert_eq!(count_records(&mut conn, c.id, &deals).await?, 50);
    let second_half = list_records(&mut conn, c.id, &deals, Some(25), 10).await?;
    assert_eq!(second_half.first().unwrap().id, 26);
    assert_eq!(second_half.len(), 10);
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn values_that_do_not_parse_are_stored_as_text(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 1).await;
    let fields = [
        field("dealname", FieldType::String, "string", false),
        field(
            "deal_currency_code",
            FieldType::Picklist,
            "enumeration",
            false,
        ),
        field("createdate", FieldType::Date, "datetime", false),
        field("amount", FieldType::Number, "number", false),
    ];
    let row = parsed_deal(
        &fields,
        7,
        9_000,
        json!({
            "dealname": "Big deal",
            "deal_currency_code": "EUR",
            "createdate": "2024-03-01T10:00:00Z",
            "amount": "N/A",
        }),
    );
    upsert_records(&mut conn, c.id, &TableName::DEALS, None, &[row]).await?;
    let stored = get_record(&mut conn, c.id, &TableName::DEALS, 7)
        .await?
        .unwrap();
    assert_eq!(stored.values["amount"], Value::Null);
    assert_eq!(stored.unparsed["amount"], json!("N/A"));
    assert_eq!(stored.values["deal_currency_code"], json!("EUR"));
    assert_eq!(
        stored.values["createdate"],
        json!("2024-03-01T10:00:00.000Z")
    );
    Ok(())
}

fn association(from: u64, to: u64, type_id: i32) -> AssociationRow {
    AssociationRow {
        from_id: from,
        to_id: to,
        type_id,
        category: "HUBSPOT_DEFINED".to_owned(),
        label: None,
    }
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn associations_are_replaced_per_record_and_table(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 1).await;
    let (deals, companies, contacts) =
        (TableName::DEALS, TableName::COMPANIES, TableName::CONTACTS);

    let inserted = replace_associations(
        &mut conn,
        c.id,
        &deals,
        &[1, 2],
        &[(
            companies.clone(),
            vec![
                association(1, 100, 5),
                association(1, 101, 5),
                association(2, 100, 5),
                // Listed twice (HubSpot does): stored once.
                association(2, 100, 5),
            ],
        )],
    )
    .await?;
    assert_eq!(inserted, 3);
    replace_associations(
        &mut conn,
        c.id,
        &deals,
        &[1],
        &[(contacts.clone(), vec![association(1, 500, 3)])],
    )
    .await?;

    // Deal 1 lost company 101 and gained 102; deal 2 is not in this page; an
    // association of a record whose upsert did not apply (3) is ignored.
    replace_associations(
        &mut conn,
        c.id,
        &deals,
        &[1],
        &[(
            companies.clone(),
            vec![
                association(1, 100, 5),
                AssociationRow {
                    label: Some("Primary".to_owned()),
                    ..association(1, 102, 6)
                },
                association(3, 100, 5),
            ],
        )],
    )
    .await?;
    let deal1: Vec<(String, u64, i32, Option<String>)> =
        list_associations(&mut conn, c.id, &deals, 1)
            .await?
            .into_iter()
            .map(|a| (a.to_table.to_string(), a.to_id, a.type_id, a.label))
            .collect();
    assert_eq!(
        deal1,
        vec![
            ("companies".to_owned(), 100, 5, None),
            ("companies".to_owned(), 102, 6, Some("Primary".to_owned())),
            ("contacts".to_owned(), 500, 3, None),
        ]
    );
    assert_eq!(
        list_associations(&mut conn, c.id, &deals, 2).await?.len(),
        1
    );
    assert!(
        list_associations(&mut conn, c.id, &deals, 3)
            .await?
            .is_empty()
    );

    // Every association of deal 2 removed.
    replace_associations(
        &mut conn,
        c.id,
        &deals,
        &[2],
        &[(companies.clone(), vec![])],
    )
    .await?;
    assert!(
        list_associations(&mut conn, c.id, &deals, 2)
            .await?
            .is_empty()
    );
    assert_eq!(count_associations(&mut conn, c.id, &deals).await?, 3);

    // Several joins in one call: each to-table is replaced, an empty one cleared.
    let inserted = replace_associations(
        &mut conn,
        c.id,
        &deals,
        &[1],
        &[
            (companies.clone(), vec![association(1, 103, 5)]),
            (contacts.clone(), vec![]),
        ],
    )
    .await?;
    assert_eq!(inserted, 1);
    let deal1: Vec<(String, u64)> = list_associations(&mut conn, c.id, &deals, 1)
        .await?
        .into_iter()
        .map(|a| (a.to_table.to_string(), a.to_id))
        .collect();
    assert_eq!(deal1, vec![("companies".to_owned(), 103)]);
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn a_page_is_one_transaction_with_the_chunk_progress(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 1).await;
    let deals = TableName::DEALS;
    let created = run_with_chunks(&mut conn, c.id, &deals, None, 1_000, 10_000, 1).await;
    let chunk = created.chunks[0].id;
    start_chunk(&mut conn, chunk, "worker-1").await?;

    // A page whose transaction rolls back leaves no trace.
    let mut tx = conn.begin().await?;
    write_page(&mut tx, c.id, created.run.id, chunk, false).await?;
    tx.rollback().await?;
    assert_eq!(count_records(&mut conn, c.id, &deals).await?, 0);
    assert_eq!(count_associations(&mut conn, c.id, &deals).await?, 0);
    assert_eq!(get_chunk(&mut conn, chunk).await?.unwrap().cursor, None);

    // Committed: all three together.
    let mut tx = conn.begin().await?;
    write_page(&mut tx, c.id, created.run.id, chunk, true).await?;
    tx.commit().await?;
    let stored = get_record(&mut conn, c.id, &deals, 1).await?.unwrap();
    assert_eq!(stored.last_run_id, Some(created.run.id));
    assert_eq!(count_associations(&mut conn, c.id, &deals).await?, 1);
    assert_eq!(get_chunk(&mut conn, chunk).await?.unwrap().cursor, Some(1));
    Ok(())
}

/// What a worker writes for one page in its transaction: deal 1, its association to
/// company 100, and the chunk's progress.
async fn write_page(
    tx: &mut sqlx::PgConnection,
    connection_id: hubsync_core::ConnectionId,
    run_id: hubsync_core::RunId,
    chunk: hubsync_core::ChunkId,
    last: bool,
) -> TestResult {
    let deals = TableName::DEALS;
    let applied =
        upsert_records(tx, connection_id, &deals, Some(run_id), &[row(1, 5_000, 1)]).await?;
    replace_associations(
        tx,
        connection_id,
        &deals,
        &applied,
        &[(TableName::COMPANIES, vec![association(1, 100, 5)])],
    )
    .await?;
    record_page(
        tx,
        chunk,
        &PageProgress {
            cursor: Some(1),
            records: 1,
            unparsed_values: 0,
            last,
        },
    )
    .await?;
    Ok(())
}
