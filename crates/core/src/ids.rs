//! Newtypes for the identifiers that cross crate boundaries.
//!
//! A bare `Uuid` or `String` lets a run id stand where a chunk id belongs; these types
//! don't. `TableName` and `PropertyName` are more than labels: they are the only way a
//! name becomes part of SQL (a table, view or column identifier), so their parsers are
//! whitelists and their contents are safe to quote without escaping.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Postgres silently truncates identifiers longer than this many bytes (`NAMEDATALEN - 1`).
pub const POSTGRES_IDENTIFIER_MAX: usize = 63;

/// The longest table name we produce. Leaves room for a prefix such as `hubspot_` or a
/// suffix such as `_fields` on the identifiers the store derives from it.
pub const TABLE_NAME_MAX: usize = 40;

/// Longest property name accepted. HubSpot's own limit is lower; this only guards memory.
pub const PROPERTY_NAME_MAX: usize = 256;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new random (v4) id.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// One HubSpot portal connected to hubsync (its tokens, settings and data).
    ConnectionId
);
uuid_id!(
    /// One sync run of one table of one connection.
    RunId
);
uuid_id!(
    /// One chunk of a run: a range of last-modified dates (and maybe record ids).
    ChunkId
);

/// A name refused by [`TableName::parse`] or [`PropertyName::parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is empty")]
    Empty,
    #[error("name {name:?} is longer than {max} bytes")]
    TooLong { name: String, max: usize },
    #[error("name {name:?} holds {character:?}; only letters, digits and underscores are allowed")]
    ForbiddenCharacter { name: String, character: char },
    #[error("table name {name:?} must start with a lowercase letter")]
    BadTableStart { name: String },
}

/// Our name of a table: `deals`, `companies`, `contacts`, `line_items`, `meetings`,
/// `calls`, `emails`, `tasks`, `goals`, or a custom object's sanitized schema name.
///
/// Always `[a-z][a-z0-9_]*` and at most [`TABLE_NAME_MAX`] bytes, so it can be embedded
/// in an SQL identifier as is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TableName(Cow<'static, str>);

impl TableName {
    pub const DEALS: TableName = TableName(Cow::Borrowed("deals"));
    pub const COMPANIES: TableName = TableName(Cow::Borrowed("companies"));
    pub const CONTACTS: TableName = TableName(Cow::Borrowed("contacts"));
    pub const LINE_ITEMS: TableName = TableName(Cow::Borrowed("line_items"));
    pub const MEETINGS: TableName = TableName(Cow::Borrowed("meetings"));
    pub const CALLS: TableName = TableName(Cow::Borrowed("calls"));
    pub const EMAILS: TableName = TableName(Cow::Borrowed("emails"));
    pub const TASKS: TableName = TableName(Cow::Borrowed("tasks"));
    pub const GOALS: TableName = TableName(Cow::Borrowed("goals"));

    /// Accepts a name that is already in our form; refuses anything else.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let first = name.chars().next().ok_or(NameError::Empty)?;
        if name.len() > TABLE_NAME_MAX {
            return Err(NameError::TooLong {
                name: name.to_owned(),
                max: TABLE_NAME_MAX,
            });
        }
        if !first.is_ascii_lowercase() {
            return Err(NameError::BadTableStart {
                name: name.to_owned(),
            });
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
        {
            return Err(NameError::ForbiddenCharacter {
                name: name.to_owned(),
                character: bad,
            });
        }
        Ok(Self(Cow::Owned(name.to_owned())))
    }

    /// Turns any text (a custom object's schema `name`) into a valid table name: lowercase,
    /// every other character `_`, a `t_` prefix when it would not start with a letter, and
    /// a hash suffix when too long. The same text always gives the same name.
    pub fn sanitize(text: &str) -> Self {
        let mut name: String = text
            .chars()
            .map(|c| {
                let c = c.to_ascii_lowercase();
                if c.is_ascii_lowercase() || c.is_ascii_digit() {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            name.insert_str(0, "t_");
        }
        Self(Cow::Owned(shorten_with_hash(&name, text, TABLE_NAME_MAX)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TableName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TableName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TableName> for String {
    fn from(value: TableName) -> Self {
        value.0.into_owned()
    }
}

impl FromStr for TableName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A HubSpot property's internal name, checked to be safe as an SQL identifier.
///
/// The parser is a whitelist: ASCII letters, digits and `_`, 1 to [`PROPERTY_NAME_MAX`]
/// bytes. HubSpot's internal names are lowercase `[a-z0-9_]`; uppercase is accepted
/// because older portals hold such custom properties, and quoting keeps the case.
/// A property whose name fails the whitelist is not synced as a column (the caller
/// reports it); nothing else turns a HubSpot name into SQL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PropertyName(Cow<'static, str>);

impl PropertyName {
    pub const HS_OBJECT_ID: PropertyName = PropertyName(Cow::Borrowed("hs_object_id"));
    pub const HS_LASTMODIFIEDDATE: PropertyName =
        PropertyName(Cow::Borrowed("hs_lastmodifieddate"));
    pub const LASTMODIFIEDDATE: PropertyName = PropertyName(Cow::Borrowed("lastmodifieddate"));
    pub const HS_CREATEDATE: PropertyName = PropertyName(Cow::Borrowed("hs_createdate"));

    /// Accepts a HubSpot property name that passes the whitelist.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.len() > PROPERTY_NAME_MAX {
            return Err(NameError::TooLong {
                name: name.chars().take(80).collect(),
                max: PROPERTY_NAME_MAX,
            });
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
        {
            return Err(NameError::ForbiddenCharacter {
                name: name.to_owned(),
                character: bad,
            });
        }
        Ok(Self(Cow::Owned(name.to_owned())))
    }

    /// The property name exactly as HubSpot spells it (for API requests).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The column name for this property: the name itself when it fits Postgres's
    /// 63-byte identifiers, otherwise its first bytes, `_` and an 8-hex-digit hash of the
    /// whole name. Postgres would truncate silently, and two long HubSpot names sharing
    /// their first 63 bytes (common: `..._timestamp_latest_value_<hash>`) would collide.
    pub fn column_name(&self) -> Cow<'_, str> {
        if self.0.len() <= POSTGRES_IDENTIFIER_MAX {
            Cow::Borrowed(&self.0)
        } else {
            Cow::Owned(shorten_with_hash(&self.0, &self.0, POSTGRES_IDENTIFIER_MAX))
        }
    }
}

impl fmt::Display for PropertyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PropertyName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PropertyName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PropertyName> for String {
    fn from(value: PropertyName) -> Self {
        value.0.into_owned()
    }
}

impl FromStr for PropertyName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// `name` itself when it fits in `max` bytes, else a prefix of it, `_`, and 8 hex digits
/// of a hash of `hashed`. `name` must be ASCII (both callers guarantee it).
fn shorten_with_hash(name: &str, hashed: &str, max: usize) -> String {
    debug_assert!(name.is_ascii());
    if name.len() <= max {
        return name.to_owned();
    }
    let suffix = format!("_{:08x}", stable_hash32(hashed.as_bytes()));
    let keep = max - suffix.len();
    format!("{}{}", &name[..keep], suffix)
}

/// FNV-1a, folded to 32 bits. Column names must stay the same across builds and Rust
/// versions (they are stored in views); std's hashers promise no such stability.
fn stable_hash32(bytes: &[u8]) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Fold rather than truncate so every input bit reaches the 32 we keep.
    ((hash >> 32) ^ (hash & 0xffff_ffff)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_name_whitelist() {
        assert!(PropertyName::parse("hs_lastmodifieddate").is_ok());
        assert!(PropertyName::parse("Legacy_Field2").is_ok());
        assert_eq!(PropertyName::parse(""), Err(NameError::Empty));
        for bad in ["a\"b", "a b", "a;drop", "é", "a-b", "a.b"] {
            assert!(
                matches!(
                    PropertyName::parse(bad),
                    Err(NameError::ForbiddenCharacter { .. })
                ),
                "{bad} accepted"
            );
        }
        assert!(matches!(
            PropertyName::parse(&"a".repeat(PROPERTY_NAME_MAX + 1)),
            Err(NameError::TooLong { .. })
        ));
    }

    #[test]
    fn short_column_names_are_the_property_name() {
        let name =
            PropertyName::parse("recent_conversion_event_name_timestamp_latest_value_66c820bf")
                .unwrap();
        assert_eq!(name.column_name(), name.as_str());
    }

    #[test]
    fn long_column_names_fit_and_differ() {
        let a = PropertyName::parse(
            "hs_analytics_last_touch_converting_campaign_timestamp_latest_value_81a64e30",
        )
        .unwrap();
        let b = PropertyName::parse(
            "hs_analytics_last_touch_converting_campaign_timestamp_latest_value_99999999",
        )
        .unwrap();
        let (col_a, col_b) = (a.column_name(), b.column_name());
        assert_eq!(col_a.len(), POSTGRES_IDENTIFIER_MAX);
        assert_eq!(col_b.len(), POSTGRES_IDENTIFIER_MAX);
        assert_ne!(col_a, col_b);
        assert!(col_a.starts_with("hs_analytics_last_touch_converting_campaign_time"));
        // Stable: the same name gives the same column in every build (value checked against
        // an independent FNV-1a implementation).
        assert_eq!(a.column_name(), col_a);
        assert_eq!(
            col_a,
            "hs_analytics_last_touch_converting_campaign_timestamp__37dbb30b"
        );
    }

    #[test]
    fn table_names() {
        assert_eq!(
            TableName::parse("line_items").unwrap(),
            TableName::LINE_ITEMS
        );
        assert!(TableName::parse("Deals").is_err());
        assert!(TableName::parse("2cars").is_err());
        assert!(TableName::parse("cars;").is_err());
        assert_eq!(TableName::sanitize("Cars").as_str(), "cars");
        assert_eq!(TableName::sanitize("car-parts 2").as_str(), "car_parts_2");
        assert_eq!(TableName::sanitize("2wheels").as_str(), "t_2wheels");
        let long = TableName::sanitize(&"x".repeat(100));
        assert_eq!(long.as_str().len(), TABLE_NAME_MAX);
        assert!(TableName::parse(long.as_str()).is_ok());
    }

    #[test]
    fn names_round_trip_through_serde_and_refuse_bad_input() {
        let json = serde_json::to_string(&TableName::DEALS).unwrap();
        assert_eq!(json, "\"deals\"");
        assert_eq!(
            serde_json::from_str::<TableName>(&json).unwrap(),
            TableName::DEALS
        );
        assert!(serde_json::from_str::<TableName>("\"x; drop table\"").is_err());
        assert!(serde_json::from_str::<PropertyName>("\"a\\\"b\"").is_err());
        let run = RunId::new_random();
        let back: RunId = serde_json::from_str(&serde_json::to_string(&run).unwrap()).unwrap();
        assert_eq!(run, back);
        assert_eq!(run.to_string().parse::<RunId>().unwrap(), run);
    }
}
