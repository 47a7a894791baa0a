use hubsync_core::catalog::select_tables;
use hubsync_core::metadata::{Owner, PropertyDefinition};
use hubsync_core::{CustomQuery, FieldType, TableName};
use hubsync_store::tables::VANISHED_REASON;
use hubsync_store::{
    Error, TableEntry, get_table, get_watermark, list_fields, list_owners, list_tables,
    live_fields, replace_fields, replace_owners, reset_watermark, set_custom_query,
    set_table_enabled, upsert_connection, upsert_tables,
};
use sqlx::PgPool;

use crate::common::{TestResult, at, connection_with_tables, field, key, new_connection, scopes};

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn tables_keep_admin_settings_across_refreshes(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let connection = upsert_connection(&mut conn, &new_connection(1, "t"), &key()).await?;
    let granted = scopes(&[
        "crm.objects.deals.read",
        "crm.objects.companies.read",
        "crm.objects.contacts.read",
    ]);
    let selection = select_tables(&granted, &[]);
    let entries = TableEntry::from_selection(&selection);
    upsert_tables(&mut conn, connection.id, &entries).await?;

    let tables = list_tables(&mut conn, connection.id).await?;
    let deals = tables
        .iter()
        .find(|t| t.name() == &TableName::DEALS)
        .unwrap();
    assert!(deals.available && deals.enabled && deals.syncs());
    assert_eq!(deals.watermark, None);
    assert_eq!(
        deals.spec,
        selection.table(&TableName::DEALS).unwrap().clone()
    );
    let goals = tables
        .iter()
        .find(|t| t.name() == &TableName::GOALS)
        .unwrap();
    assert!(!goals.available && !goals.syncs());
    assert!(
        goals
            .skip_reason
            .as_deref()
            .unwrap()
            .contains("crm.objects.goals.read"),
        "{:?}",
        goals.skip_reason
    );
    let line_items = tables
        .iter()
        .find(|t| t.name() == &TableName::LINE_ITEMS)
        .unwrap();
    assert!(!line_items.available);

    // Admin settings.
    let query = CustomQuery::parse(
        r#"{"filterGroups":[{"filters":[{"propertyName":"amount","operator":"GT","value":"100"}]}]}"#,
        None,
    )?;
    set_table_enabled(&mut conn, connection.id, &TableName::COMPANIES, false).await?;
    set_custom_query(&mut conn, connection.id, &TableName::DEALS, Some(&query)).await?;
    reset_watermark(&mut conn, connection.id, &TableName::DEALS, Some(at(5_000))).await?;

    // A refresh with another label and without contacts' scope.
    let mut entries = TableEntry::from_selection(&select_tables(
        &scopes(&["crm.objects.deals.read", "crm.objects.companies.read"]),
        &[],
    ));
    entries
        .iter_mut()
        .find(|e| e.spec.name == TableName::DEALS)
        .unwrap()
        .spec
        .label = "Opportunities".to_owned();
    entries.retain(|e| e.spec.name != TableName::GOALS);
    upsert_tables(&mut conn, connection.id, &entries).await?;

    let deals = get_table(&mut conn, connection.id, &TableName::DEALS)
        .await?
        .unwrap();
    assert_eq!(deals.spec.label, "Opportunities");
    assert_eq!(deals.custom_query, Some(query));
    assert_eq!(deals.watermark, Some(at(5_000)));
    assert_eq!(
        get_watermark(&mut conn, connection.id, &TableName::DEALS).await?,
        Some(at(5_000))
    );
    let companies = get_table(&mut conn, connection.id, &TableName::COMPANIES)
        .await?
        .unwrap();
    assert!(companies.available && !companies.enabled && !companies.syncs());
    let contacts = get_table(&mut conn, connection.id, &TableName::CONTACTS)
        .await?
        .unwrap();
    assert!(!contacts.available);
    assert!(
        contacts
            .skip_reason
            .unwrap()
            .contains("crm.objects.contacts.read")
    );
    // Left out of the refresh entirely.
    let goals = get_table(&mut conn, connection.id, &TableName::GOALS)
        .await?
        .unwrap();
    assert!(!goals.available);
    assert_eq!(goals.skip_reason.as_deref(), Some(VANISHED_REASON));

    set_custom_query(&mut conn, connection.id, &TableName::DEALS, None).await?;
    let deals = get_table(&mut conn, connection.id, &TableName::DEALS)
        .await?
        .unwrap();
    assert_eq!(deals.custom_query, None);

    let unknown = TableName::parse("cars")?;
    assert!(
        get_table(&mut conn, connection.id, &unknown)
            .await?
            .is_none()
    );
    assert!(matches!(
        set_table_enabled(&mut conn, connection.id, &unknown, true).await,
        Err(Error::TableNotFound { .. })
    ));
    assert!(matches!(
        get_watermark(&mut conn, connection.id, &unknown).await,
        Err(Error::TableNotFound { .. })
    ));
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn replacing_fields_reports_what_changed(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let connection = connection_with_tables(&mut conn, 1).await;
    let deals = TableName::DEALS;
    let amount = field("amount", FieldType::Number, "number", false);
    let name = field("dealname", FieldType::String, "string", false);
    let stage = field("dealstage", FieldType::Picklist, "enumeration", false);
    let definition: PropertyDefinition = serde_json::from_value(serde_json::json!({
        "name": "amount", "label": "Amount", "type": "number", "fieldType": "number"
    }))?;

    let first = replace_fields(
        &mut conn,
        connection.id,
        &deals,
        &[amount.clone(), name.clone(), stage.clone()],
        std::slice::from_ref(&definition),
    )
    .await?;
    assert_eq!(first.added.len(), 3);
    assert!(first.view_changed());
    let stored_definition: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT definition FROM hubsync.fields WHERE property_name = 'amount'")
            .fetch_one(&mut *conn)
            .await?;
    assert_eq!(stored_definition.unwrap()["label"], "Amount");

    // The same set again changes nothing.
    let same = replace_fields(
        &mut conn,
        connection.id,
        &deals,
        &[amount.clone(), name.clone(), stage.clone()],
        &[],
    )
    .await?;
    assert!(!same.changed() && !same.view_changed(), "{same:?}");

    // A label change is an update that leaves the view alone.
    let mut relabeled = stage.clone();
    relabeled.label = "Stage".to_owned();
    let label_only = replace_fields(
        &mut conn,
        connection.id,
        &deals,
        &[amount.clone(), name.clone(), relabeled.clone()],
        &[],
    )
    .await?;
    assert_eq!(label_only.updated, vec![stage.name.clone()]);
    assert!(label_only.changed() && !label_only.view_changed());

    // Retype name to a number, drop amount: the view must follow.
    let renumbered = field("dealname", FieldType::Number, "number", false);
    let drift = replace_fields(
        &mut conn,
        connection.id,
        &deals,
        &[renumbered.clone(), relabeled.clone()],
        &[],
    )
    .await?;
    assert_eq!(drift.retyped, vec![name.name.clone()]);
    assert_eq!(drift.archived, vec![amount.name.clone()]);
    assert!(drift.view_changed());
    let live = live_fields(&mut conn, connection.id, &deals).await?;
    assert_eq!(live.len(), 2);
    assert!(live.contains(&renumbered) && live.contains(&relabeled));
    let all = list_fields(&mut conn, connection.id, &deals).await?;
    let archived = all.iter().find(|f| f.field.name == amount.name).unwrap();
    assert!(archived.archived_at.is_some());
    assert_eq!(archived.column_name, "amount");

    // It comes back.
    let back = replace_fields(
        &mut conn,
        connection.id,
        &deals,
        &[amount.clone(), renumbered, relabeled],
        &[],
    )
    .await?;
    assert_eq!(back.restored, vec![amount.name.clone()]);
    assert!(back.view_changed());
    assert_eq!(
        live_fields(&mut conn, connection.id, &deals).await?.len(),
        3
    );

    let unknown = TableName::parse("cars")?;
    assert!(matches!(
        replace_fields(&mut conn, connection.id, &unknown, &[amount], &[]).await,
        Err(Error::TableNotFound { .. })
    ));
    Ok(())
}

fn owner(id: &str, first: Option<&str>, email: Option<&str>, archived: bool) -> Owner {
    serde_json::from_value(serde_json::json!({
        "id": id,
        "firstName": first,
        "lastName": first.map(|_| "Smith"),
        "email": email,
        "userId": 7,
        "type": "PERSON",
        "archived": archived,
        "teams": [{"id": "t1", "name": "Sales", "primary": true}],
        "createdAt": "2024-01-02T03:04:05.678Z",
    }))
    .unwrap()
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn owners_are_replaced_wholesale(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let connection = connection_with_tables(&mut conn, 1).await;
    let ann = owner("10", Some("Ann"), Some("ann@example.com"), false);
    let bob = owner("11", None, Some("bob@example.com"), false);
    let ann_archived = owner("10", Some("Ann"), None, true);
    let stored = replace_owners(
        &mut conn,
        connection.id,
        &[ann_archived, ann.clone(), bob.clone()],
    )
    .await?;
    assert_eq!(stored, 2);
    assert_eq!(
        list_owners(&mut conn, connection.id).await?,
        vec![ann.clone(), bob]
    );
    let label: String = sqlx::query_scalar("SELECT label FROM hubsync.owners WHERE id = '10'")
        .fetch_one(&mut *conn)
        .await?;
    assert_eq!(label, "Ann Smith");

    // Bob left the portal.
    replace_owners(&mut conn, connection.id, std::slice::from_ref(&ann)).await?;
    assert_eq!(list_owners(&mut conn, connection.id).await?, vec![ann]);
    Ok(())
}
