//! Search (`POST {objects}/{objectType}/search`), paged by record id.
//!
//! HubSpot's `after` offset stops at 10,000 results and shifts when records change
//! while paging. The caller's body builder instead receives the last id seen and puts
//! `hs_object_id GT <id>` (sorted ascending by `hs_object_id`) in its filters, so every
//! page is the first page of a narrower query. This module never sends `after`.

use futures_util::Stream;
use hubsync_core::search::SearchRequest;
use serde::Deserialize;

use super::paging::Paging;
use crate::client::{Call, Family, PortalClient};
use crate::error::{Error, Result};
use crate::record::Record;

/// One page of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    /// Matches of the query that produced this page (from its cursor on), possibly
    /// more than 10,000. On the first page: the size of the whole range.
    pub total: u64,
    pub results: Vec<Record>,
    /// The id to page from next (the last result's); `None` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SearchBody {
    #[serde(default)]
    total: u64,
    #[serde(default)]
    results: Vec<Record>,
    #[serde(default)]
    paging: Option<Paging>,
}

impl PortalClient {
    /// Sends one search request as built by the caller.
    pub async fn search_page(
        &self,
        object_type: &str,
        request: &SearchRequest,
    ) -> Result<SearchPage> {
        let url = self.url(&self.config().paths.objects, &[object_type, "search"])?;
        let call = Call::post_json(Family::Search, url, request)?;
        let body = self.send::<SearchBody>(&call).await?;
        let more = body.paging.and_then(Paging::into_after).is_some();
        let next_cursor = if more {
            body.results.last().map(|record| record.id.clone())
        } else {
            None
        };
        Ok(SearchPage {
            total: body.total,
            results: body.results,
            next_cursor,
        })
    }

    /// Every page of a search, in order. `build` gets the cursor (`None` for the first
    /// page, then the last id of the previous page) and returns the body to send; it
    /// must filter `hs_object_id GT cursor` and sort by `hs_object_id` ascending.
    ///
    /// The stream ends after the page HubSpot says is the last; it fails with
    /// [`Error::Protocol`] if the cursor does not move forward (a builder that ignores
    /// it would otherwise loop forever).
    pub fn search<'a, F>(
        &'a self,
        object_type: &'a str,
        build: F,
    ) -> impl Stream<Item = Result<SearchPage>> + Send + 'a
    where
        F: FnMut(Option<&str>) -> SearchRequest + Send + 'a,
    {
        // State: the builder and the cursor to search from (`Some(None)` first), or
        // `None` for the cursor once the last page was returned.
        futures_util::stream::try_unfold(
            (build, Some(None::<String>)),
            move |(mut build, state)| async move {
                let Some(cursor) = state else {
                    return Ok(None);
                };
                let request = build(cursor.as_deref());
                let page = self.search_page(object_type, &request).await?;
                if let (Some(previous), Some(next)) = (&cursor, &page.next_cursor)
                    && !id_is_after(next, previous)
                {
                    return Err(Error::Protocol(format!(
                        "search cursor did not advance (from {previous} to {next}); \
                         the body must filter hs_object_id GT the cursor and sort by it"
                    )));
                }
                let next_state = page.next_cursor.clone().map(Some);
                Ok(Some((page, (build, next_state))))
            },
        )
    }
}

/// Ids are decimal strings; compare them as numbers (falling back to length, then
/// text, for ids that are not plain digits).
fn id_is_after(next: &str, previous: &str) -> bool {
    match (next.parse::<u128>(), previous.parse::<u128>()) {
        (Ok(n), Ok(p)) => n > p,
        _ => (next.len(), next) > (previous.len(), previous),
    }
}

#[cfg(test)]
mod tests {
    use super::id_is_after;

    #[test]
    fn ids_compare_as_numbers() {
        assert!(id_is_after("10", "9"));
        assert!(!id_is_after("9", "10"));
        assert!(!id_is_after("57156923994", "57156923994"));
    }
}
