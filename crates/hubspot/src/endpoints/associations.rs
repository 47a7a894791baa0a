//! Associations v4 batch read (`POST {associations}/{from}/{to}/batch/read`): up to
//! 1,000 inputs a call, each input paged on its own (`paging.next.after` per result),
//! and a 207 whose `NO_ASSOCIATIONS_FOUND` errors mean "zero rows", not failure.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::objects::BatchError;
use super::paging::Paging;
use crate::client::{Call, Family, PortalClient};
use crate::error::{Error, Result};
use crate::record::string_or_number;

/// HubSpot's limit of inputs per association batch read (since Feb 2025).
pub const ASSOCIATIONS_MAX_INPUTS: usize = 1_000;

/// One association from a record to another, with every type linking them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Association {
    pub from_id: String,
    pub to_id: String,
    pub types: Vec<AssociationType>,
}

/// One association type (label) of a pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationType {
    /// `HUBSPOT_DEFINED`, `USER_DEFINED`, `INTEGRATOR_DEFINED`.
    pub category: String,
    pub type_id: i64,
    /// `None` for the unlabeled default types.
    #[serde(default)]
    pub label: Option<String>,
}

/// The answer of an association batch read, every page followed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssociationBatch {
    pub associations: Vec<Association>,
    /// Errors other than "no associations" / "record not found" (which are simply
    /// zero rows for that input).
    pub errors: Vec<BatchError>,
}

#[derive(Debug, Serialize)]
struct Input {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

#[derive(Debug, Serialize)]
struct Body<'a> {
    inputs: &'a [Input],
}

#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<ResultEntry>,
    #[serde(default)]
    errors: Vec<BatchError>,
}

#[derive(Debug, Deserialize)]
struct ResultEntry {
    from: FromId,
    #[serde(default)]
    to: Vec<ToEntry>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
struct FromId {
    #[serde(deserialize_with = "string_or_number")]
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToEntry {
    /// A JSON number in real answers although the spec says string: accept both.
    #[serde(deserialize_with = "string_or_number")]
    to_object_id: String,
    #[serde(default)]
    association_types: Vec<AssociationType>,
}

/// Sub-categories and categories that only say an input has nothing to return.
fn means_no_rows(error: &BatchError) -> bool {
    error
        .sub_category
        .as_deref()
        .is_some_and(|s| s.ends_with("NO_ASSOCIATIONS_FOUND"))
        || error.category.as_deref() == Some("OBJECT_NOT_FOUND")
}

impl PortalClient {
    /// Reads the associations of `ids` (records of `from_type`) to `to_type`, calling
    /// with at most 1,000 inputs and re-asking for each input that has more pages
    /// until none has. Direction matters: HubSpot stores some pairs one way only.
    pub async fn associations(
        &self,
        from_type: &str,
        to_type: &str,
        ids: &[String],
    ) -> Result<AssociationBatch> {
        let url = self.url(
            &self.config().paths.associations,
            &[from_type, to_type, "batch", "read"],
        )?;
        let mut out = AssociationBatch::default();
        let mut pending: Vec<Input> = ids
            .iter()
            .map(|id| Input {
                id: id.clone(),
                after: None,
            })
            .collect();
        let mut seen_cursors: HashSet<(String, String)> = HashSet::new();
        while !pending.is_empty() {
            let mut follow_ups = Vec::new();
            for inputs in pending.chunks(ASSOCIATIONS_MAX_INPUTS) {
                let call = Call::post_json(Family::Associations, url.clone(), &Body { inputs })?;
                let answer = self.send::<Answer>(&call).await?;
                for entry in answer.results {
                    let from_id = entry.from.id;
                    out.associations
                        .extend(entry.to.into_iter().map(|to| Association {
                            from_id: from_id.clone(),
                            to_id: to.to_object_id,
                            types: to.association_types,
                        }));
                    if let Some(after) = entry.paging.and_then(Paging::into_after) {
                        if !seen_cursors.insert((from_id.clone(), after.clone())) {
                            return Err(Error::Protocol(format!(
                                "association paging cursor repeated for input {from_id}"
                            )));
                        }
                        follow_ups.push(Input {
                            id: from_id,
                            after: Some(after),
                        });
                    }
                }
                out.errors
                    .extend(answer.errors.into_iter().filter(|e| !means_no_rows(e)));
            }
            pending = follow_ups;
        }
        Ok(out)
    }
}
