//! The metadata refresh that precedes every plan: granted scopes, custom-object schemas
//! (when granted), the catalog of tables, owners (active and archived), each available
//! table's properties mapped to fields (deals with their pipelines), and the typed
//! views rebuilt when a view's columns changed.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::{StreamExt, stream};
use hubsync_core::ConnectionId;
use hubsync_core::catalog::owners_available;
use hubsync_core::metadata::{ObjectSchema, Owner, Pipeline};
use hubsync_core::{LeftOut, MappingContext, TableName, TableSpec, map_properties, select_tables};
use hubsync_hubspot::{Error as HubSpotError, PortalClient, PortalClients};
use hubsync_store::connections::{self, Connection, ConnectionStatus};
use hubsync_store::{TableEntry, fields, owners, tables, views};
use sqlx::{Acquire as _, PgPool};
use tracing::{info, warn};

use crate::error::PlanError;
use crate::settings::PlannerSettings;

/// The scope that lets custom tables sync (it also reads their schemas).
const CUSTOM_OBJECTS_SCOPE: &str = "crm.objects.custom.read";

/// What the refresh found and changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataReport {
    /// The connection's granted scopes the tables were selected by.
    pub granted_scopes: BTreeSet<String>,
    /// Tables the scopes allow, with their live field counts.
    pub fields: BTreeMap<TableName, usize>,
    /// Tables whose fields changed since the last refresh.
    pub changed_tables: Vec<TableName>,
    /// What the connection does not sync, and why (tables, custom tables, owners,
    /// joins to tables that are not synced).
    pub left_out: Vec<LeftOut>,
    /// Properties that cannot become columns, with the reason.
    pub skipped_properties: Vec<String>,
    /// Owners stored (active and archived); `None` when not read (scope missing or
    /// the request failed).
    pub owners: Option<usize>,
    /// Tables whose watermark was reset because a property changed type or came back:
    /// their next run reads every record, so that stored values follow the fields.
    pub reread: Vec<TableName>,
    /// Tables whose properties could not be read: they are not planned this time.
    pub failed: BTreeMap<TableName, String>,
    /// Whether the typed views were rebuilt.
    pub views_rebuilt: bool,
    /// Why the typed views lag their fields, when a rebuild was needed and refused
    /// (objects of someone else depend on them). The sync goes on without them.
    pub views_error: Option<String>,
}

/// Refreshes a connection's metadata in the store, as every plan does first, and as
/// `hubsync connect` does so that a new connection's tables and fields are known before
/// its first sync (custom queries are validated against the fields). Needs no broker.
pub async fn refresh_metadata(
    pool: &PgPool,
    portals: &PortalClients,
    connection_id: ConnectionId,
    settings: &PlannerSettings,
) -> Result<MetadataReport, PlanError> {
    let connection = {
        let mut db = pool.acquire().await?;
        connections::get_connection(&mut db, connection_id)
            .await?
            .ok_or_else(|| hubsync_store::Error::ConnectionNotFound(connection_id.to_string()))?
    };
    refresh_connection(pool, portals, &connection, settings).await
}

/// [`refresh_metadata`] of a connection already read.
pub(crate) async fn refresh_connection(
    pool: &PgPool,
    portals: &PortalClients,
    connection: &Connection,
    settings: &PlannerSettings,
) -> Result<MetadataReport, PlanError> {
    if connection.status != ConnectionStatus::Active {
        return Err(PlanError::ConnectionNotActive {
            connection: connection.hub_id.to_string(),
            status: connection.status.to_string(),
            reason: connection.status_reason.clone(),
        });
    }
    let refreshed = async {
        let portal = portals.get(connection.id).await?;
        refresh(pool, settings, portals, connection, &portal).await
    };
    match refreshed.await {
        Err(PlanError::HubSpot(hubsync_hubspot::Error::ReconnectRequired { reason, .. })) => {
            // The token provider had the connection marked already; forget its client
            // so that a reconnect is picked up by this process.
            portals.evict(connection.id);
            Err(PlanError::ReconnectRequired { reason })
        }
        other => other,
    }
}

/// Refreshes the connection's metadata in the store.
async fn refresh(
    pool: &PgPool,
    settings: &PlannerSettings,
    portals: &PortalClients,
    connection: &Connection,
    portal: &PortalClient,
) -> Result<MetadataReport, PlanError> {
    // The scopes can change under a connection (the app reinstalled with other ones),
    // and tables follow them: ask HubSpot, through the portal's own token provider.
    let token = portal.access_token().await?;
    let introspected = portals.app().introspect(&token).await?;
    let granted: BTreeSet<String> = introspected.scopes.into_iter().collect();
    if granted != connection.granted_scopes {
        info!(scopes = granted.len(), "granted scopes changed");
        let mut db = pool.acquire().await?;
        connections::set_granted_scopes(&mut db, connection.id, &granted).await?;
    }
    let mut report = MetadataReport {
        granted_scopes: granted,
        ..MetadataReport::default()
    };

    let schemas: Vec<ObjectSchema> = if report.granted_scopes.contains(CUSTOM_OBJECTS_SCOPE) {
        match portal.schemas().await {
            Ok(schemas) => schemas,
            // HubSpot's scope list is a hint; a 403 here means no custom tables, not
            // no sync.
            Err(error @ (HubSpotError::MissingScopes { .. } | HubSpotError::Forbidden { .. })) => {
                warn!(%error, "custom object schemas refused; custom tables are skipped");
                Vec::new()
            }
            Err(error) => return Err(error.into()),
        }
    } else {
        Vec::new()
    };
    let selection = select_tables(&report.granted_scopes, &schemas);
    report.left_out = selection.left_out.clone();
    {
        let mut db = pool.acquire().await?;
        tables::upsert_tables(
            &mut db,
            connection.id,
            &TableEntry::from_selection(&selection),
        )
        .await?;
    }

    let owners = match owners_available(&report.granted_scopes) {
        Ok(()) => read_owners(portal).await?,
        Err(left_out) => {
            report.left_out.push(left_out);
            None
        }
    };
    if let Some(owners) = &owners {
        let mut db = pool.acquire().await?;
        report.owners =
            Some(owners::replace_owners(&mut db, connection.id, owners).await? as usize);
    }
    let owners = owners.unwrap_or_default();
    {
        // Custom tables and owners left out have no table row: `status` reads why here.
        let mut db = pool.acquire().await?;
        connections::set_connection_left_out(&mut db, connection.id, &report.left_out).await?;
    }

    let refreshed: Vec<(&TableSpec, Result<TableFields, HubSpotError>)> =
        stream::iter(selection.enabled.iter())
            .map(|spec| {
                let owners = &owners;
                async move { (spec, read_table_fields(portal, spec, owners).await) }
            })
            .buffer_unordered(settings.metadata_concurrency)
            .collect()
            .await;
    let mut view_changed = false;
    for (spec, result) in refreshed {
        let name = spec.name.clone();
        let table_fields = match result {
            Ok(table_fields) => table_fields,
            Err(error) if stops_the_plan(&error) => return Err(error.into()),
            Err(error) => {
                warn!(table = %name, %error, "could not read the table's properties; it is not planned");
                report.failed.insert(name, error.to_string());
                continue;
            }
        };
        report.skipped_properties.extend(
            table_fields
                .skipped
                .iter()
                .map(|reason| format!("{}: {reason}", spec.name)),
        );
        let mut db = pool.acquire().await?;
        let mut tx = db.begin().await?;
        let changes = fields::replace_fields(
            &mut tx,
            connection.id,
            &name,
            &table_fields.fields,
            &table_fields.definitions,
        )
        .await?;
        if !(changes.retyped.is_empty() && changes.restored.is_empty()) {
            // The stored records hold these properties as typed by their old
            // definition (or not at all, if they synced while it was archived), and an
            // incremental run reads only records modified since: read them all again.
            // In the same transaction, so the need cannot be forgotten; a run of the
            // table in flight now ends cancelled instead of moving the watermark back.
            tables::reset_watermark(&mut tx, connection.id, &name, None).await?;
            info!(
                table = %name,
                retyped = ?changes.retyped,
                restored = ?changes.restored,
                "properties changed type or came back; the table's next run reads every record"
            );
            report.reread.push(name.clone());
        }
        tx.commit().await?;
        if changes.changed() {
            report.changed_tables.push(name.clone());
        }
        view_changed |= changes.view_changed();
        report.fields.insert(name, table_fields.fields.len());
    }
    report.changed_tables.sort();
    report.reread.sort();
    let mut db = pool.acquire().await?;
    // Also when no field changed now: an earlier rebuild may have failed after its
    // fields were stored, and the views would otherwise lag behind them for good.
    if view_changed || views::views_outdated(&mut db, connection.id).await? {
        match views::rebuild_views(&mut db, connection.id).await {
            Ok(views) => {
                for (table, property) in &views.skipped_columns {
                    report.skipped_properties.push(format!(
                        "{table}: {property} clashes with a column of ours; not in the view"
                    ));
                }
                report.views_rebuilt = true;
            }
            // A user's view on top of ours, or long queries holding a view: the records
            // still sync (they live in hubsync.records), the views lag, and every plan
            // says so and tries again.
            Err(
                error @ (hubsync_store::Error::ViewInUse { .. }
                | hubsync_store::Error::ViewLocked { .. }),
            ) => {
                warn!(%error, "the typed views were not rebuilt; the records sync all the same");
                report.views_error = Some(error.to_string());
            }
            Err(error) => return Err(error.into()),
        }
    }
    info!(
        tables = report.fields.len(),
        changed = report.changed_tables.len(),
        owners = report.owners,
        views_rebuilt = report.views_rebuilt,
        "metadata refreshed"
    );
    Ok(report)
}

/// Active and archived owners (records still reference deactivated users). A failure
/// is logged and costs only the owners' names: user fields keep their ids.
async fn read_owners(portal: &PortalClient) -> Result<Option<Vec<Owner>>, HubSpotError> {
    let read = async {
        let mut owners = portal.owners(false).await?;
        owners.extend(portal.owners(true).await?);
        Ok::<_, HubSpotError>(owners)
    };
    match read.await {
        Ok(owners) => Ok(Some(owners)),
        Err(error) if stops_the_plan(&error) => Err(error),
        Err(error) => {
            warn!(%error, "could not read the owners; keeping the stored ones");
            Ok(None)
        }
    }
}

/// Errors no other request of this plan can escape: the portal must be reconnected,
/// or its credentials cannot be had. Other failures cost one table or the owners.
fn stops_the_plan(error: &HubSpotError) -> bool {
    matches!(
        error,
        HubSpotError::ReconnectRequired { .. } | HubSpotError::Credentials { .. }
    )
}

struct TableFields {
    fields: Vec<hubsync_core::Field>,
    definitions: Vec<hubsync_core::metadata::PropertyDefinition>,
    skipped: Vec<String>,
}

async fn read_table_fields(
    portal: &PortalClient,
    spec: &TableSpec,
    owners: &[Owner],
) -> Result<TableFields, HubSpotError> {
    let definitions = portal.properties(&spec.object_type, false).await?;
    let pipelines: Vec<Pipeline> = if spec.name == TableName::DEALS {
        match portal.pipelines(&spec.object_type).await {
            Ok(pipelines) => pipelines,
            Err(error) if stops_the_plan(&error) => return Err(error),
            Err(error) => {
                warn!(%error, "could not read the deal pipelines; stage labels are missing");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let mapped = map_properties(
        spec,
        &definitions,
        MappingContext {
            pipelines: &pipelines,
            owners,
        },
    );
    Ok(TableFields {
        fields: mapped.fields,
        skipped: mapped.skipped.iter().map(ToString::to_string).collect(),
        definitions,
    })
}
