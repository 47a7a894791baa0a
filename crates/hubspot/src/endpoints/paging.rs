//! HubSpot's `paging.next.after` cursor, and splitting a property list over several
//! URLs that each stay under the configured length.

use serde::Deserialize;
use url::Url;
use url::form_urlencoded::byte_serialize;

use crate::error::{Error, Result};
use crate::record::StringOrNumber;

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Paging {
    #[serde(default)]
    next: Option<NextPage>,
}

#[derive(Debug, Clone, Deserialize)]
struct NextPage {
    #[serde(default)]
    after: Option<StringOrNumber>,
}

impl Paging {
    pub(crate) fn into_after(self) -> Option<String> {
        self.next
            .and_then(|n| n.after)
            .map(String::from)
            .filter(|a| !a.is_empty())
    }
}

const PROPERTIES_PARAM: &str = "properties=";

/// Appends `properties=a,b,c` to `url` (names percent-encoded, literal commas: the
/// form HubSpot documents, and a third of the length of `%2C`).
pub(crate) fn with_properties(url: &Url, names: &[&str]) -> Url {
    if names.is_empty() {
        return url.clone();
    }
    let joined = names
        .iter()
        .map(|name| byte_serialize(name.as_bytes()).collect::<String>())
        .collect::<Vec<_>>()
        .join(",");
    let mut out = url.clone();
    let query = match url.query() {
        Some(existing) if !existing.is_empty() => format!("{existing}&{PROPERTIES_PARAM}{joined}"),
        _ => format!("{PROPERTIES_PARAM}{joined}"),
    };
    out.set_query(Some(&query));
    out
}

/// Splits `names` into as few groups as possible such that `url` with any one group
/// appended stays within `max_url_length`. Order is kept. An empty list gives one
/// empty group (HubSpot then returns the object's default properties).
pub(crate) fn chunk_properties<'a>(
    url: &Url,
    names: &'a [String],
    max_url_length: usize,
) -> Result<Vec<Vec<&'a str>>> {
    // "?" or "&", then "properties=".
    let base = url.as_str().len() + 1 + PROPERTIES_PARAM.len();
    let mut chunks: Vec<Vec<&str>> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut current_len = base;
    for name in names {
        let encoded = byte_serialize(name.as_bytes()).map(str::len).sum::<usize>();
        if base + encoded > max_url_length {
            return Err(Error::UriTooLong {
                length: base + encoded,
                correlation_id: None,
            });
        }
        let added = encoded + usize::from(!current.is_empty());
        if current_len + added > max_url_length {
            chunks.push(std::mem::take(&mut current));
            current_len = base;
            current.push(name);
            current_len += encoded;
        } else {
            current.push(name);
            current_len += added;
        }
    }
    if !current.is_empty() || chunks.is_empty() {
        chunks.push(current);
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("property_number_{i:04}")).collect()
    }

    #[test]
    fn cursors_are_read_as_text_or_number() {
        let after =
            |json: serde_json::Value| serde_json::from_value::<Paging>(json).unwrap().into_after();
        assert_eq!(
            after(serde_json::json!({"next": {"after": "MTA="}})).as_deref(),
            Some("MTA=")
        );
        assert_eq!(
            after(serde_json::json!({"next": {"after": 100}})).as_deref(),
            Some("100")
        );
        assert_eq!(after(serde_json::json!({"next": {"after": ""}})), None);
        assert_eq!(after(serde_json::json!({"next": {"after": null}})), None);
        assert_eq!(after(serde_json::json!({"next": {}})), None);
    }

    #[test]
    fn every_chunk_fits_and_nothing_is_lost() {
        let url =
            Url::parse("http://127.0.0.1:1/crm/v3/objects/deals?limit=100&after=abc").unwrap();
        let all = names(600);
        let chunks = chunk_properties(&url, &all, 2_000).unwrap();
        assert!(chunks.len() > 1);
        for chunk in &chunks {
            assert!(with_properties(&url, chunk).as_str().len() <= 2_000);
        }
        let rejoined: Vec<&str> = chunks.concat();
        assert_eq!(rejoined, all.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn a_short_list_is_one_chunk_and_an_empty_one_asks_for_defaults() {
        let url = Url::parse("http://h/crm/v3/objects/deals").unwrap();
        let few = names(3);
        assert_eq!(chunk_properties(&url, &few, 7_500).unwrap().len(), 1);
        let chunks = chunk_properties(&url, &[], 7_500).unwrap();
        assert_eq!(chunks, vec![Vec::<&str>::new()]);
        assert_eq!(with_properties(&url, &[]).as_str(), url.as_str());
    }

    #[test]
    fn a_name_longer_than_the_budget_is_an_error() {
        let url = Url::parse("http://h/crm/v3/objects/deals").unwrap();
        let long = vec!["x".repeat(100)];
        assert!(matches!(
            chunk_properties(&url, &long, 80),
            Err(Error::UriTooLong { .. })
        ));
    }

    #[test]
    fn properties_are_comma_joined_and_encoded() {
        let url = Url::parse("http://h/p?limit=1").unwrap();
        assert_eq!(
            with_properties(&url, &["a", "b c"]).as_str(),
            "http://h/p?limit=1&properties=a,b+c"
        );
    }
}
