//! `POST …/{objectType}/search`: scans the table in id order from the lowest id every
//! filter group allows (keyset paging stays cheap on 100k+ records), sees each record in the
//! version the lagging index holds, and pages by offset with `total`.

use std::collections::HashSet;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::objects::{Shape, count_records, json_body, record_json, select_props, table_of};
use super::{ApiError, Caller, Shared};
use crate::search::{self, SearchError, SortValue};
use crate::state::read;
use crate::store::RecordData;

fn search_error(e: SearchError) -> ApiError {
    match e {
        SearchError::Validation(m) => ApiError::validation(m),
        SearchError::Malformed(_) => ApiError::bad_request(),
        SearchError::EpochZero => ApiError::internal(),
    }
}

pub(super) async fn search_objects(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(&body)?;
    let request = search::parse(&body).map_err(search_error)?;
    let lag = caller.portal.index_lag();
    let base_url = state.base_url();
    let data = read(&caller.portal.data);
    let (ti, table) = table_of(&data, &object_type)?;
    caller.require(&table.info.read_scopes)?;
    let associated = |other: &str, id: u64| -> Option<HashSet<u64>> {
        let oi = data.table_index(other)?;
        let other_table = &data.tables[oi];
        let id = other_table.resolve_id(id);
        Some(
            data.assoc
                .links(oi, ti, id)
                .iter()
                .map(|l| l.to_id)
                .collect(),
        )
    };
    let compiled = search::compile(&request, table, &associated).map_err(search_error)?;
    let props = select_props(table, request.properties.as_deref());
    let shape = Shape {
        props: &props,
        history: &[],
        associations: &[],
    };
    let now = Instant::now();
    let visible = table
        .live
        .range(compiled.min_id..)
        .filter_map(|(id, record)| record.search_view(lag, now).map(|view| (*id, view)))
        .filter(|(id, view)| compiled.matches(*id, view));
    let (total, page): (usize, Vec<(u64, &RecordData)>) = match &compiled.sort {
        Some(key) if !key.target_is_id || key.descending => {
            let mut all: Vec<(SortValue, u64, &RecordData)> = visible
                .map(|(id, view)| (key.value(id, view, table), id, view))
                .collect();
            all.sort_by(|a, b| {
                let order = match (&a.0, &b.0) {
                    // records without a value sort last either way
                    (SortValue::Missing, SortValue::Missing) => std::cmp::Ordering::Equal,
                    (SortValue::Missing, _) => std::cmp::Ordering::Greater,
                    (_, SortValue::Missing) => std::cmp::Ordering::Less,
                    (x, y) => {
                        let o = x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal);
                        if key.descending { o.reverse() } else { o }
                    }
                };
                order.then(a.1.cmp(&b.1))
            });
            let total = all.len();
            (
                total,
                all.into_iter()
                    .skip(request.after)
                    .take(request.limit)
                    .map(|(_, id, v)| (id, v))
                    .collect(),
            )
        }
        _ => {
            let mut total = 0;
            let mut page = Vec::with_capacity(request.limit);
            for (id, view) in visible {
                if total >= request.after && page.len() < request.limit {
                    page.push((id, view));
                }
                total += 1;
            }
            (total, page)
        }
    };
    let results: Vec<Value> = page
        .iter()
        .map(|(id, view)| record_json(&data, ti, *id, view, None, &shape, &base_url))
        .collect();
    let mut out = json!({"total": total, "results": results});
    if request.after + request.limit < total {
        out["paging"] = json!({"next": {"after": (request.after + request.limit).to_string()}});
    }
    let n = results.len() as u64;
    let plural = table.info.plural.clone();
    drop(data);
    count_records(&state, &caller, &plural, "search", n);
    Ok(axum::Json(out).into_response())
}
