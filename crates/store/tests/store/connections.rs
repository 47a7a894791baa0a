use std::str::FromStr;

use hubsync_store::{
    ConnectionRef, ConnectionStatus, CryptoError, DatabaseSettings, EncryptionKey, Error,
    ExposeSecret, SchemaName, SecretString, connect, get_connection, get_connection_by_hub_id,
    list_connections, load_refresh_token, migrate, resolve_connection, set_connection_left_out,
    set_connection_status, set_granted_scopes, store_refresh_token, upsert_connection,
};
use sqlx::PgPool;

use crate::common::{TestResult, key, new_connection, scopes};

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn connections_are_created_then_updated_by_hub_id(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let created = upsert_connection(&mut conn, &new_connection(123, "first"), &key()).await?;
    assert_eq!(created.hub_id, 123);
    assert_eq!(created.schema_name.as_str(), "hubspot_123");
    assert_eq!(created.status, ConnectionStatus::Active);

    assert_eq!(
        get_connection(&mut conn, created.id).await?,
        Some(created.clone())
    );
    assert_eq!(
        get_connection_by_hub_id(&mut conn, 123).await?,
        Some(created.clone())
    );
    for text in ["123", &created.id.to_string()] {
        let reference = ConnectionRef::from_str(text)?;
        assert_eq!(
            resolve_connection(&mut conn, reference).await?.id,
            created.id
        );
    }
    assert!(matches!(
        resolve_connection(&mut conn, ConnectionRef::HubId(999)).await,
        Err(Error::ConnectionNotFound(_))
    ));
    assert!(ConnectionRef::from_str("not-a-connection").is_err());

    set_connection_status(
        &mut conn,
        created.id,
        ConnectionStatus::ReconnectRequired,
        Some("refresh token refused"),
    )
    .await?;
    let flagged = get_connection(&mut conn, created.id).await?.unwrap();
    assert_eq!(flagged.status, ConnectionStatus::ReconnectRequired);
    assert_eq!(
        flagged.status_reason.as_deref(),
        Some("refresh token refused")
    );

    // Connecting the same portal again keeps the id and schema, takes the new token
    // and scopes, and makes the connection active again.
    let mut again = new_connection(123, "second");
    again.granted_scopes = scopes(&["crm.objects.deals.read"]);
    again.schema_name = Some(SchemaName::parse("ignored_for_existing")?);
    let updated = upsert_connection(&mut conn, &again, &key()).await?;
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.schema_name.as_str(), "hubspot_123");
    assert_eq!(updated.granted_scopes, scopes(&["crm.objects.deals.read"]));
    assert_eq!(updated.status, ConnectionStatus::Active);
    assert_eq!(updated.status_reason, None);
    assert_eq!(
        load_refresh_token(&mut conn, created.id, &key())
            .await?
            .expose_secret(),
        "second"
    );

    let mut custom = new_connection(456, "other");
    custom.schema_name = Some(SchemaName::parse("crm_eu")?);
    let other = upsert_connection(&mut conn, &custom, &key()).await?;
    assert_eq!(other.schema_name.as_str(), "crm_eu");
    let listed: Vec<u64> = list_connections(&mut conn)
        .await?
        .iter()
        .map(|c| c.hub_id)
        .collect();
    assert_eq!(listed, vec![123, 456]);

    let mut clash = new_connection(789, "x");
    clash.schema_name = Some(SchemaName::parse("crm_eu")?);
    assert!(matches!(
        upsert_connection(&mut conn, &clash, &key()).await,
        Err(Error::SchemaNameTaken(name)) if name == "crm_eu"
    ));
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn what_the_catalog_left_out_is_kept_with_the_connection(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let created = upsert_connection(&mut conn, &new_connection(321, "t"), &key()).await?;
    assert!(created.left_out.is_empty());
    let selection = hubsync_core::select_tables(&scopes(&["crm.objects.deals.read"]), &[]);
    assert!(!selection.left_out.is_empty());
    set_connection_left_out(&mut conn, created.id, &selection.left_out).await?;
    let stored = get_connection(&mut conn, created.id).await?.unwrap();
    assert_eq!(stored.left_out, selection.left_out);
    let reasons: Vec<String> = stored.left_out.iter().map(ToString::to_string).collect();
    assert!(
        reasons.contains(&"custom tables: scope crm.objects.custom.read not granted".to_owned()),
        "{reasons:?}"
    );
    set_granted_scopes(&mut conn, created.id, &scopes(&["oauth", "e-commerce"])).await?;
    assert_eq!(
        get_connection(&mut conn, created.id)
            .await?
            .unwrap()
            .granted_scopes,
        scopes(&["oauth", "e-commerce"])
    );
    // A later refresh replaces the list.
    set_connection_left_out(&mut conn, created.id, &[]).await?;
    assert!(
        get_connection(&mut conn, created.id)
            .await?
            .unwrap()
            .left_out
            .is_empty()
    );
    assert!(matches!(
        set_connection_left_out(&mut conn, hubsync_core::ConnectionId::new_random(), &[]).await,
        Err(Error::ConnectionNotFound(_))
    ));
    Ok(())
}

#[sqlx::test(migrator = "hubsync_store::MIGRATOR")]
async fn refresh_tokens_are_sealed_and_refuse_a_wrong_key_or_tampering(pool: PgPool) -> TestResult {
    let mut conn = pool.acquire().await?;
    let token = "na1-0123-secret-refresh-token";
    let debug = format!("{:?}", new_connection(1, token));
    assert!(!debug.contains(token), "{debug}");
    let a = upsert_connection(&mut conn, &new_connection(1, token), &key()).await?;
    let b = upsert_connection(&mut conn, &new_connection(2, "token-b"), &key()).await?;

    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT refresh_token_sealed FROM hubsync.connections WHERE id = $1")
            .bind(a.id.as_uuid())
            .fetch_one(&mut *conn)
            .await?;
    assert!(!sealed.windows(token.len()).any(|w| w == token.as_bytes()));
    assert_eq!(
        load_refresh_token(&mut conn, a.id, &key())
            .await?
            .expose_secret(),
        token
    );

    // Rotation.
    store_refresh_token(&mut conn, a.id, &SecretString::from("rotated"), &key()).await?;
    assert_eq!(
        load_refresh_token(&mut conn, a.id, &key())
            .await?
            .expose_secret(),
        "rotated"
    );

    // Another key: a clear error, never a wrong token.
    let other_key = EncryptionKey::from_bytes([7u8; 32]);
    let error = load_refresh_token(&mut conn, a.id, &other_key)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Crypto(CryptoError::WrongKey { .. })));
    assert!(
        error
            .to_string()
            .contains("the encryption key does not match the one the token was stored with"),
        "{error}"
    );

    // One flipped ciphertext byte.
    sqlx::query(
        "UPDATE hubsync.connections
         SET refresh_token_sealed = set_byte(refresh_token_sealed, 40,
                                             get_byte(refresh_token_sealed, 40) # 1)
         WHERE id = $1",
    )
    .bind(a.id.as_uuid())
    .execute(&mut *conn)
    .await?;
    assert!(matches!(
        load_refresh_token(&mut conn, a.id, &key()).await,
        Err(Error::Crypto(CryptoError::Tampered))
    ));

    // B's sealed token copied into A's row does not open as A's.
    sqlx::query(
        "UPDATE hubsync.connections SET refresh_token_sealed =
             (SELECT refresh_token_sealed FROM hubsync.connections WHERE id = $2)
         WHERE id = $1",
    )
    .bind(a.id.as_uuid())
    .bind(b.id.as_uuid())
    .execute(&mut *conn)
    .await?;
    assert!(matches!(
        load_refresh_token(&mut conn, a.id, &key()).await,
        Err(Error::Crypto(CryptoError::Tampered))
    ));
    assert_eq!(
        load_refresh_token(&mut conn, b.id, &key())
            .await?
            .expose_secret(),
        "token-b"
    );
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn migrations_apply_concurrently_and_once(pool: PgPool) -> TestResult {
    let (first, second) = tokio::join!(migrate(&pool), migrate(&pool));
    first?;
    second?;
    // Again, as a restarted pod does: nothing to apply (the bookkeeping table must not
    // follow the search path into our own schema).
    migrate(&pool).await?;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM hubsync._sqlx_migrations")
        .fetch_one(&pool)
        .await?;
    assert_eq!(applied, crate::common::migration_files() as i64);
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'hubsync'",
    )
    .fetch_one(&pool)
    .await?;
    // Our eight tables and the bookkeeping table.
    assert_eq!(tables, 9);
    Ok(())
}

#[tokio::test]
async fn settings_redact_the_url_and_name_the_role() -> TestResult {
    let url = std::env::var("DATABASE_URL")?;
    let settings = DatabaseSettings::new(SecretString::from(url.as_str()))
        .with_application_name("hubsync-test");
    let debug = format!("{settings:?}");
    assert!(!debug.contains("hubsync@"), "{debug}");
    assert!(debug.contains("REDACTED"), "{debug}");

    let parsed: DatabaseSettings =
        serde_json::from_value(serde_json::json!({ "url": url, "max_connections": 3 }))?;
    assert_eq!(parsed.max_connections, 3);
    assert_eq!(parsed.application_name, "hubsync");

    let pool = connect(&settings).await?;
    let name: String = sqlx::query_scalar("SELECT current_setting('application_name')")
        .fetch_one(&pool)
        .await?;
    assert_eq!(name, "hubsync-test");
    pool.close().await;

    let bad = DatabaseSettings::new(SecretString::from("postgres://user:pw@[bad"));
    let error = connect(&bad).await.unwrap_err();
    assert!(matches!(error, Error::InvalidDatabaseUrl(_)));
    assert!(!error.to_string().contains("pw"), "{error}");
    Ok(())
}
