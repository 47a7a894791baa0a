//! Metadata endpoints: property definitions, pipelines, custom-object schemas, owners.
//! Their answers deserialize straight into `hubsync_core::metadata`.

use hubsync_core::metadata::{ObjectSchema, Owner, Pipeline, PropertyDefinition};
use serde::Deserialize;

use super::paging::Paging;
use crate::client::{Call, Family, PortalClient};
use crate::error::{Error, Result};

#[derive(Debug, Deserialize)]
struct Results<T> {
    results: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct PagedResults<T> {
    results: Vec<T>,
    #[serde(default)]
    paging: Option<Paging>,
}

/// Owners pages are few (one per 100 users); this many is a server that loops.
const MAX_OWNER_PAGES: usize = 10_000;

impl PortalClient {
    /// The property definitions of an object type (`GET {properties}/{objectType}`),
    /// live ones, or only the archived ones with `archived`. Not paginated by HubSpot.
    pub async fn properties(
        &self,
        object_type: &str,
        archived: bool,
    ) -> Result<Vec<PropertyDefinition>> {
        let mut url = self.url(&self.config().paths.properties, &[object_type])?;
        if archived {
            url.query_pairs_mut().append_pair("archived", "true");
        }
        let reply = self
            .send::<Results<PropertyDefinition>>(&Call::get(Family::Properties, url))
            .await?;
        Ok(reply.results)
    }

    /// The pipelines of an object type with their stages (`GET {pipelines}/{objectType}`);
    /// deals and tickets have them, and the labels of `pipeline`/`dealstage` live here.
    pub async fn pipelines(&self, object_type: &str) -> Result<Vec<Pipeline>> {
        let url = self.url(&self.config().paths.pipelines, &[object_type])?;
        let reply = self
            .send::<Results<Pipeline>>(&Call::get(Family::Pipelines, url))
            .await?;
        Ok(reply.results)
    }

    /// The custom-object schemas of the portal, with their property definitions.
    /// Archived schemas are left out by HubSpot.
    pub async fn schemas(&self) -> Result<Vec<ObjectSchema>> {
        let url = self.url(&self.config().paths.schemas, &[])?;
        let reply = self
            .send::<Results<ObjectSchema>>(&Call::get(Family::Schemas, url))
            .await?;
        Ok(reply.results)
    }

    /// Every owner, following the pages: the active ones, or with `archived` only the
    /// deactivated ones (records keep referencing those, so a sync reads both).
    pub async fn owners(&self, archived: bool) -> Result<Vec<Owner>> {
        let mut owners = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_OWNER_PAGES {
            let mut url = self.url(&self.config().paths.owners, &[])?;
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("limit", &self.config().owners_page_size.to_string());
                query.append_pair("archived", if archived { "true" } else { "false" });
                if let Some(after) = &after {
                    query.append_pair("after", after);
                }
            }
            let reply = self
                .send::<PagedResults<Owner>>(&Call::get(Family::Owners, url))
                .await?;
            owners.extend(reply.results);
            match reply.paging.and_then(Paging::into_after) {
                Some(next) if Some(&next) != after.as_ref() => after = Some(next),
                Some(_) => return Err(Error::Protocol("owners paging cursor repeated".into())),
                None => return Ok(owners),
            }
        }
        Err(Error::Protocol("owners paging did not end".into()))
    }
}
