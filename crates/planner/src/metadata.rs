//! The metadata refresh that precedes every plan: granted scopes, custom-object schemas
//! (when granted), the catalog of tables, owners (active and archived), each available
//! table's properties mapped to fields (deals with their pipelines), and the typed
//! views rebuilt when a view's columns changed.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::{StreamExt, stream};
use hubsync_core::catalog::owners_available;
use hubsync_core::metadata::{ObjectSchema, Owner, Pipeline};
use hubsync_core::{LeftOut, MappingContext, TableName, TableSpec, map_properties, select_tables};
use hubsync_hubspot::{Error as HubSpotError, PortalClient};
use hubsync_store::connections::Connection;
use hubsync_store::{TableEntry, fields, owners, tables, views};
use tracing::{info, warn};

use crate::PlannerContext;
use crate::error::PlanError;

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
    /// Tables whose properties could not be read: they are not planned this time.
    pub failed: BTreeMap<TableName, String>,
    /// Whether the typed views were rebuilt.
    pub views_rebuilt: bool,
}

/// Refreshes the connection's metadata in the store.
pub(crate) async fn refresh(
    context: &PlannerContext,
    connection: &Connection,
    portal: &PortalClient,
) -> Result<MetadataReport, PlanError> {
    // The scopes stored by `hubsync connect` (introspected then). Introspecting again
    // on every plan needs the connection's access token, which the shared portal
    // client does not hand out yet (requests-lead.md #5).
    let mut report = MetadataReport {
        granted_scopes: connection.granted_scopes.clone(),
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
        let mut db = context
            .pool
            .acquire()
            .await
            .map_err(hubsync_store::Error::from)?;
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
        let mut db = context
            .pool
            .acquire()
            .await
            .map_err(hubsync_store::Error::from)?;
        report.owners =
            Some(owners::replace_owners(&mut db, connection.id, owners).await? as usize);
    }
    let owners = owners.unwrap_or_default();

    let refreshed: Vec<(&TableSpec, Result<TableFields, HubSpotError>)> =
        stream::iter(selection.enabled.iter())
            .map(|spec| {
                let owners = &owners;
                async move { (spec, read_table_fields(portal, spec, owners).await) }
            })
            .buffer_unordered(context.settings.metadata_concurrency)
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
        let mut db = context
            .pool
            .acquire()
            .await
            .map_err(hubsync_store::Error::from)?;
        let changes = fields::replace_fields(
            &mut db,
            connection.id,
            &name,
            &table_fields.fields,
            &table_fields.definitions,
        )
        .await?;
        if changes.changed() {
            report.changed_tables.push(name.clone());
        }
        view_changed |= changes.view_changed();
        report.fields.insert(name, table_fields.fields.len());
    }
    report.changed_tables.sort();
    if view_changed {
        let mut db = context
            .pool
            .acquire()
            .await
            .map_err(hubsync_store::Error::from)?;
        let views = views::rebuild_views(&mut db, connection.id).await?;
        for (table, property) in &views.skipped_columns {
            report.skipped_properties.push(format!(
                "{table}: {property} clashes with a column of ours; not in the view"
            ));
        }
        report.views_rebuilt = true;
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
