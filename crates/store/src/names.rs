//! Names that become SQL identifiers or literals, and the conversions between our ids
//! and Postgres's `bigint`.
//!
//! Generated SQL (the views) cannot bind parameters for identifiers or view bodies, so
//! a few names are written into the text. Only these reach it: a [`SchemaName`], a
//! core `TableName` or `PropertyName` (both whitelists), a UUID and fixed strings of
//! ours. The quoting helpers still escape, so a whitelist bug cannot become an
//! injection.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Schemas a connection may not take.
const RESERVED_SCHEMAS: &[&str] = &["hubsync", "public", "information_schema"];

/// The Postgres schema of one connection's views: `[a-z][a-z0-9_]*`, at most 63
/// bytes, not `pg_…` and not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SchemaName(String);

impl SchemaName {
    pub fn parse(name: &str) -> Result<Self> {
        let refuse = |reason| Error::InvalidSchemaName {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() || name.len() > 63 {
            return Err(refuse("it must be 1 to 63 bytes"));
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(refuse("it must start with a lowercase letter"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(refuse("only lowercase letters, digits and _ are allowed"));
        }
        if name.starts_with("pg_") || RESERVED_SCHEMAS.contains(&name) {
            return Err(refuse("the name is reserved"));
        }
        Ok(Self(name.to_owned()))
    }

    /// The default schema of a portal: `hubspot_<hub_id>`.
    pub fn for_hub(hub_id: u64) -> Self {
        Self(format!("hubspot_{hub_id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SchemaName {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::parse(&value)
    }
}

impl From<SchemaName> for String {
    fn from(value: SchemaName) -> Self {
        value.0
    }
}

/// `"name"`, with embedded quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, with embedded quotes doubled (standard_conforming_strings is on by
/// default since Postgres 9.1, so backslashes are literal).
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A HubSpot id (record, hub) as a Postgres `bigint`.
pub(crate) fn to_bigint(what: &'static str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::OutOfRange { what, value })
}

/// A stored `bigint` back to a HubSpot id; negative values never come from us.
pub(crate) fn from_bigint(what: &'static str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::corrupt(what, format!("negative id {value}")))
}

/// A count stored as `bigint` (never negative by construction).
pub(crate) fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names() {
        assert_eq!(SchemaName::for_hub(123).as_str(), "hubspot_123");
        assert!(SchemaName::parse("hubspot_123").is_ok());
        for bad in [
            "", "Hub", "1abc", "a-b", "a\"b", "pg_x", "hubsync", "public", "a b",
        ] {
            assert!(SchemaName::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(SchemaName::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn quoting_escapes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
