//! Object records: the paged list (GET, property lists split to keep URLs short) and
//! batch read (POST, ≤ 100 ids a call, 207 partial answers).

use std::collections::{BTreeMap, HashMap};

use futures_util::Stream;
use futures_util::future::try_join_all;
use serde::{Deserialize, Serialize};

use super::paging::{Paging, chunk_properties, with_properties};
use crate::client::{Call, Family, PortalClient};
use crate::error::{Error, Result};
use crate::record::Record;

/// HubSpot's limit of inputs per CRM batch call.
pub const BATCH_READ_MAX_IDS: usize = 100;

/// What to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    /// Plural name (`deals`), object type id (`0-3`, `2-1234`) or `p_{name}`.
    pub object_type: String,
    /// Properties to return; empty means HubSpot's defaults for the type.
    pub properties: Vec<String>,
    /// Only the archived (recycle-bin) records, instead of only the live ones.
    pub archived: bool,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectPage {
    pub records: Vec<Record>,
    /// The cursor of the next page; `None` on the last.
    pub next_after: Option<String>,
}

/// The answer of a batch read.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRead {
    /// The records found, in no particular order: match them by `id`. A merged-away
    /// id comes back as its survivor, under the survivor's id.
    pub records: Vec<Record>,
    /// The ids HubSpot said it could not find (deleted, or never existed).
    pub missing_ids: Vec<String>,
    /// Every other error of a partial answer: the ids it names were neither found nor
    /// said to be missing, so they must not be taken for deleted records.
    pub errors: Vec<BatchError>,
}

#[derive(Debug, Deserialize)]
struct ListBody {
    #[serde(default)]
    results: Vec<Record>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Debug, Serialize)]
struct BatchReadBody<'a> {
    inputs: Vec<IdInput<'a>>,
    properties: &'a [String],
}

#[derive(Debug, Serialize)]
struct IdInput<'a> {
    id: &'a str,
}

#[derive(Debug, Deserialize)]
struct BatchReadAnswer {
    #[serde(default)]
    results: Vec<Record>,
    #[serde(default)]
    errors: Vec<BatchError>,
}

/// An entry of a batch answer's `errors[]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchError {
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub sub_category: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub context: BTreeMap<String, serde_json::Value>,
}

impl BatchError {
    /// The values of a context entry (HubSpot sends arrays of strings; numbers are
    /// accepted too).
    pub fn context_values(&self, key: &str) -> Vec<String> {
        match self.context.get(key) {
            Some(serde_json::Value::Array(values)) => values
                .iter()
                .filter_map(|v| match v {
                    serde_json::Value::String(text) => Some(text.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
            Some(serde_json::Value::String(text)) => vec![text.clone()],
            _ => Vec::new(),
        }
    }
}

impl PortalClient {
    /// One page of records. With many properties the page is fetched as several
    /// requests with the same `after`, one per slice of the property list, so that
    /// no URL exceeds `max_url_length`; the slices are merged by record id.
    pub async fn list_objects_page(
        &self,
        request: &ListRequest,
        after: Option<&str>,
    ) -> Result<ObjectPage> {
        let mut url = self.url(&self.config().paths.objects, &[&request.object_type])?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("limit", &self.config().list_page_size.to_string());
            if request.archived {
                query.append_pair("archived", "true");
            }
            if let Some(after) = after {
                query.append_pair("after", after);
            }
        }
        let chunks = chunk_properties(&url, &request.properties, self.config().max_url_length)?;
        let calls = chunks
            .iter()
            .map(|chunk| Call::get(Family::Objects, with_properties(&url, chunk)))
            .collect::<Vec<_>>();
        let replies = try_join_all(calls.iter().map(|call| self.send::<ListBody>(call))).await?;

        let mut replies = replies.into_iter();
        let first = replies
            .next()
            .ok_or_else(|| Error::InvalidRequest("no request for the page".into()))?;
        let next_after = first.paging.and_then(Paging::into_after);
        let mut records = first.results;
        let mut position: HashMap<String, usize> = records
            .iter()
            .enumerate()
            .map(|(i, record)| (record.id.clone(), i))
            .collect();
        for body in replies {
            for record in body.results {
                match position.get(&record.id) {
                    Some(&i) => records[i].absorb(record),
                    // A record that appeared between the slice requests: keep it with
                    // what it has; the next sync completes it.
                    None => {
                        position.insert(record.id.clone(), records.len());
                        records.push(record);
                    }
                }
            }
        }
        Ok(ObjectPage {
            records,
            next_after,
        })
    }

    /// Every page of a list, in order, as a stream.
    pub fn list_objects<'a>(
        &'a self,
        request: &'a ListRequest,
    ) -> impl Stream<Item = Result<ObjectPage>> + Send + 'a {
        // State: the cursor of the page to fetch (`Some(None)` is the first page),
        // `None` once the last page was returned.
        futures_util::stream::try_unfold(Some(None::<String>), move |state| async move {
            let Some(after) = state else {
                return Ok(None);
            };
            let page = self.list_objects_page(request, after.as_deref()).await?;
            let next = match &page.next_after {
                Some(cursor) if Some(cursor) == after.as_ref() => {
                    return Err(Error::Protocol("list paging cursor repeated".into()));
                }
                Some(cursor) => Some(Some(cursor.clone())),
                None => None,
            };
            Ok(Some((page, next)))
        })
    }

    /// Reads records by id (`POST {objects}/{objectType}/batch/read`), in calls of at
    /// most 100 ids. All properties go in the body, so there is no URL limit.
    pub async fn batch_read(
        &self,
        object_type: &str,
        ids: &[String],
        properties: &[String],
        archived: bool,
    ) -> Result<BatchRead> {
        let mut url = self.url(
            &self.config().paths.objects,
            &[object_type, "batch", "read"],
        )?;
        if archived {
            url.query_pairs_mut().append_pair("archived", "true");
        }
        let mut out = BatchRead {
            records: Vec::with_capacity(ids.len()),
            missing_ids: Vec::new(),
            errors: Vec::new(),
        };
        for chunk in ids.chunks(BATCH_READ_MAX_IDS) {
            let body = BatchReadBody {
                inputs: chunk.iter().map(|id| IdInput { id }).collect(),
                properties,
            };
            let call = Call::post_json(Family::Objects, url.clone(), &body)?;
            let answer = self.send::<BatchReadAnswer>(&call).await?;
            out.records.extend(answer.results);
            for error in answer.errors {
                if error.category.as_deref() == Some("OBJECT_NOT_FOUND") {
                    out.missing_ids.extend(error.context_values("ids"));
                } else {
                    out.errors.push(error);
                }
            }
        }
        Ok(out)
    }
}
