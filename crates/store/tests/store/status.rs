use hubsync_core::FieldType;
use hubsync_core::TableName;
use hubsync_store::{
    AssociationRow, FieldChanges, PageProgress, RecordRow, RunStatus, commit_run,
    recent_run_reports, record_page, replace_associations, replace_fields, start_chunk,
    table_statuses, upsert_records,
};
use serde_json::Map;
use sqlx::PgPool;

use crate::common::{TestResult, at, connection_with_tables, field, run_with_chunks};

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn status_counts_per_table_and_recent_runs(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let c = connection_with_tables(&mut conn, 1).await;
    let deals = TableName::DEALS;
    let changes: FieldChanges = replace_fields(
        &mut conn,
        c.id,
        &deals,
        &[
            field("amount", FieldType::Number, "number", false),
            field("dealname", FieldType::String, "string", false),
        ],
        &[],
    )
    .await?;
    assert_eq!(changes.added.len(), 2);
    let rows: Vec<RecordRow> = (1..=3)
        .map(|id| RecordRow {
            id,
            name: None,
            currency: None,
            values: Map::new(),
            unparsed: Map::new(),
            created_at: None,
            modified_at: at(2_000),
            deleted_at: (id == 3).then(|| at(2_000)),
        })
        .collect();
    upsert_records(&mut conn, c.id, &deals, None, &rows).await?;
    replace_associations(
        &mut conn,
        c.id,
        &deals,
        &[1],
        &[(
            TableName::COMPANIES,
            vec![AssociationRow {
                from_id: 1,
                to_id: 9,
                type_id: 5,
                category: "HUBSPOT_DEFINED".to_owned(),
                label: None,
            }],
        )],
    )
    .await?;

    let first = run_with_chunks(&mut conn, c.id, &deals, None, 1_000, 3_000, 1).await;
    start_chunk(&mut conn, first.chunks[0].id, "w").await?;
    record_page(
        &mut conn,
        first.chunks[0].id,
        &PageProgress {
            cursor: Some(3),
            records: 3,
            unparsed_values: 0,
            last: true,
        },
    )
    .await?;
    commit_run(&mut conn, first.run.id).await?;
    let second = run_with_chunks(&mut conn, c.id, &deals, Some(at(3_000)), 2_000, 5_000, 2).await;
    start_chunk(&mut conn, second.chunks[0].id, "w").await?;

    let statuses = table_statuses(&mut conn, c.id).await?;
    let deal_status = statuses.iter().find(|s| s.table.name() == &deals).unwrap();
    assert_eq!(deal_status.field_count, 2);
    assert_eq!(deal_status.record_count, 3);
    assert_eq!(deal_status.deleted_count, 1);
    assert_eq!(deal_status.association_count, 1);
    assert_eq!(deal_status.table.watermark, Some(at(3_000)));
    let last = deal_status.last_run.as_ref().unwrap();
    assert_eq!(last.run.id, second.run.id);
    assert_eq!((last.chunks.running, last.chunks.pending), (1, 1));
    let companies = statuses
        .iter()
        .find(|s| s.table.name() == &TableName::COMPANIES)
        .unwrap();
    assert_eq!((companies.record_count, companies.field_count), (0, 0));
    assert!(companies.last_run.is_none());

    let recent = recent_run_reports(&mut conn, Some(c.id), 10).await?;
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0].run.id, second.run.id);
    assert_eq!(recent[1].run.status, RunStatus::Succeeded);
    assert_eq!(
        (recent[1].chunks.succeeded, recent[1].chunks.records),
        (1, 3)
    );
    assert_eq!(recent_run_reports(&mut conn, None, 1).await?.len(), 1);
    Ok(())
}
