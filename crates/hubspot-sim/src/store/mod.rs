//! The data of one portal: tables of records, property definitions, associations, owners,
//! pipelines and custom-object schemas, with the mutations HubSpot performs on them.
//!
//! Records live in a `BTreeMap` keyed by id so that keyset paging (`hs_object_id GT x`,
//! sorted by id) and list cursors are range scans, not full sorts, on 100k+ records.

mod associations;
mod metadata;
mod properties;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

pub use associations::{AssocCategory, AssocDef, AssocRole, AssocStore, Link};
pub use metadata::{CustomSchema, Owner, Pipeline, Stage};
pub use properties::{PropType, PropertyCatalog, PropertyDef};

/// Formats epoch milliseconds as HubSpot does (`2024-09-11T13:27:39.356Z`).
pub fn fmt_ms(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms) {
        chrono::LocalResult::Single(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        _ => String::new(),
    }
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Parses the datetime spellings HubSpot accepts in values and filters: epoch milliseconds
/// (also as a float string) and ISO-8601.
pub fn parse_datetime_ms(value: &str) -> Option<i64> {
    let v = value.trim();
    if let Ok(ms) = v.parse::<i64>() {
        return Some(ms);
    }
    if let Ok(f) = v.parse::<f64>() {
        return Some(f as i64);
    }
    DateTime::parse_from_rfc3339(v)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// How long archived records stay in the recycle bin.
pub const RECYCLE_BIN_MS: i64 = 90 * 86_400_000;

/// What makes a table: its names, its cursor properties and the scopes that unlock it.
#[derive(Debug, Clone)]
pub struct TypeInfo {
    pub plural: String,
    pub singular: String,
    pub type_id: String,
    /// `p{portal}_{name}` for custom objects.
    pub fully_qualified: Option<String>,
    pub inline_key: String,
    pub created_prop: String,
    pub modified_prop: String,
    pub default_props: Vec<String>,
    pub read_scopes: Vec<String>,
    pub schema_scopes: Vec<String>,
    pub searchable: Vec<String>,
    pub custom: bool,
}

impl TypeInfo {
    /// Whether a path segment names this type (plural, singular, objectTypeId, `p_name`,
    /// `p{portal}_name`).
    pub fn answers_to(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        if self.custom {
            return self.type_id == lower
                || self.fully_qualified.as_deref() == Some(lower.as_str())
                || lower == format!("p_{}", self.plural);
        }
        self.plural == lower
            || self.singular == lower
            || self.type_id == lower
            || (self.plural == "line_items" && (lower == "lineitem" || lower == "lineitems"))
    }
}

/// The values of a record at one moment.
#[derive(Debug, Clone, Default)]
pub struct RecordData {
    /// Values by property index, sorted by index; absent means no value.
    pub props: Vec<(u16, Box<str>)>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl RecordData {
    pub fn get(&self, index: u16) -> Option<&str> {
        self.props
            .binary_search_by_key(&index, |(i, _)| *i)
            .ok()
            .map(|pos| &*self.props[pos].1)
    }

    /// Stores a value exactly as given, an empty string included: what real portals return
    /// for some properties instead of null (API.md §15). Generation only; writes go
    /// through [`Self::set`].
    pub fn set_verbatim(&mut self, index: u16, value: &str) {
        match self.props.binary_search_by_key(&index, |(i, _)| *i) {
            Ok(pos) => self.props[pos].1 = value.into(),
            Err(pos) => self.props.insert(pos, (index, value.into())),
        }
    }

    /// Sets or clears a value; an empty string clears it, as a write of "" does in HubSpot.
    pub fn set(&mut self, index: u16, value: Option<&str>) {
        match (self.props.binary_search_by_key(&index, |(i, _)| *i), value) {
            (Ok(pos), Some(v)) if !v.is_empty() => self.props[pos].1 = v.into(),
            (Ok(pos), _) => {
                self.props.remove(pos);
            }
            (Err(pos), Some(v)) if !v.is_empty() => self.props.insert(pos, (index, v.into())),
            (Err(_), _) => {}
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub value: String,
    pub timestamp_ms: i64,
    pub source_type: &'static str,
}

/// The state search still sees while the index lags behind a change.
#[derive(Debug, Clone)]
pub struct Pending {
    pub since: Instant,
    /// None: the record is new and not yet indexed at all.
    pub indexed: Option<RecordData>,
}

#[derive(Debug, Clone)]
pub struct Record {
    pub id: u64,
    pub data: RecordData,
    pub archived_ms: Option<i64>,
    /// Past values per property, oldest first, for records changed after generation.
    pub history: Option<Box<BTreeMap<u16, Vec<HistoryEntry>>>>,
    pub pending: Option<Box<Pending>>,
}

impl Record {
    pub fn new(id: u64, data: RecordData) -> Self {
        Self {
            id,
            data,
            archived_ms: None,
            history: None,
            pending: None,
        }
    }

    /// Whether the recycle bin has dropped it: archived records stay visible to
    /// `archived=true` reads for 90 days, then disappear entirely (API.md §14).
    pub fn purged(&self, now_ms: i64) -> bool {
        self.archived_ms
            .is_some_and(|at| now_ms - at > RECYCLE_BIN_MS)
    }

    /// The version search sees now, given the index lag.
    pub fn search_view(&self, lag: Duration, now: Instant) -> Option<&RecordData> {
        match &self.pending {
            Some(p) if now.duration_since(p.since) < lag => p.indexed.as_ref(),
            _ => Some(&self.data),
        }
    }

    /// Records that the record changed now, keeping the version search still sees.
    pub(crate) fn mark_changed(
        &mut self,
        lag: Duration,
        now: Instant,
        previous: Option<RecordData>,
    ) {
        if lag.is_zero() {
            self.pending = None;
            return;
        }
        match &mut self.pending {
            // the index has not caught up with the previous change yet: it still shows the
            // older version, and catches up `lag` after the last change
            Some(p) if now.duration_since(p.since) < lag => p.since = now,
            _ => {
                self.pending = Some(Box::new(Pending {
                    since: now,
                    indexed: previous,
                }))
            }
        }
    }
}

/// The indices of the system properties a table keeps in step with ids and timestamps.
#[derive(Debug, Clone, Copy)]
pub struct Stamper {
    id_prop: u16,
    created_prop: u16,
    modified_prop: u16,
    shadow_modified_prop: Option<u16>,
    shadow_created_prop: Option<u16>,
}

impl Stamper {
    pub fn apply(self, id: u64, data: &mut RecordData) {
        data.set(self.id_prop, Some(&id.to_string()));
        data.set(self.created_prop, Some(&fmt_ms(data.created_ms)));
        let modified = fmt_ms(data.updated_ms);
        data.set(self.modified_prop, Some(&modified));
        if let Some(shadow) = self.shadow_modified_prop {
            data.set(shadow, Some(&modified));
        }
        if let Some(shadow) = self.shadow_created_prop {
            data.set(shadow, Some(&fmt_ms(data.created_ms)));
        }
    }

    /// Whether HubSpot computes this property itself (writes to it are ignored).
    pub fn is_system(self, index: u16) -> bool {
        [self.id_prop, self.created_prop, self.modified_prop].contains(&index)
            || Some(index) == self.shadow_modified_prop
            || Some(index) == self.shadow_created_prop
    }
}

/// One object type of a portal with its records.
#[derive(Debug, Clone)]
pub struct ObjectTable {
    pub info: TypeInfo,
    pub props: PropertyCatalog,
    pub live: BTreeMap<u64, Record>,
    pub archived: BTreeMap<u64, Record>,
    /// Merged-away id → survivor id.
    pub aliases: HashMap<u64, u64>,
    pub next_id: u64,
    pub id_prop: u16,
    pub created_prop: u16,
    pub modified_prop: u16,
    /// Contacts carry `hs_lastmodifieddate` beside `lastmodifieddate`; both move together.
    pub shadow_modified_prop: Option<u16>,
    /// Objects created with `createdate` also carry `hs_createdate`, with the same value.
    pub shadow_created_prop: Option<u16>,
    pub merged_ids_prop: Option<u16>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StoreError {
    #[error("no {0} record with id {1}")]
    NotFound(String, u64),
    #[error("unknown object type {0}")]
    UnknownType(String),
    #[error("unknown property {0}")]
    UnknownProperty(String),
    #[error("{0}")]
    Invalid(String),
}

impl ObjectTable {
    pub fn new(info: TypeInfo, props: PropertyCatalog, first_id: u64) -> Self {
        let mut props = props;
        let id_prop = props.ensure("hs_object_id", PropType::Number);
        let created_prop = props.ensure(&info.created_prop, PropType::Datetime);
        let modified_prop = props.ensure(&info.modified_prop, PropType::Datetime);
        let shadow_modified_prop = (info.modified_prop == "lastmodifieddate")
            .then(|| props.ensure("hs_lastmodifieddate", PropType::Datetime));
        let shadow_created_prop = (info.created_prop == "createdate")
            .then(|| props.index_of("hs_createdate"))
            .flatten();
        let merged_ids_prop = props.index_of("hs_merged_object_ids");
        Self {
            info,
            props,
            live: BTreeMap::new(),
            archived: BTreeMap::new(),
            aliases: HashMap::new(),
            next_id: first_id,
            id_prop,
            created_prop,
            modified_prop,
            shadow_modified_prop,
            shadow_created_prop,
            merged_ids_prop,
        }
    }

    /// Allocates the next id: ids grow with creation time and are sparse, like HubSpot's.
    pub fn allocate_id(&mut self, step: u64) -> u64 {
        let id = self.next_id;
        self.next_id += step.max(1);
        id
    }

    /// Writes the system properties that mirror the record's id and timestamps.
    pub fn stamp(&self, id: u64, data: &mut RecordData) {
        self.stamper().apply(id, data);
    }

    pub fn stamper(&self) -> Stamper {
        Stamper {
            id_prop: self.id_prop,
            created_prop: self.created_prop,
            modified_prop: self.modified_prop,
            shadow_modified_prop: self.shadow_modified_prop,
            shadow_created_prop: self.shadow_created_prop,
        }
    }

    /// Resolves an id through merges to the record that answers for it now.
    pub fn resolve_id(&self, id: u64) -> u64 {
        let mut current = id;
        // merges chain at most a few times; the bound guards against a cycle
        for _ in 0..16 {
            match self.aliases.get(&current) {
                Some(next) => current = *next,
                None => break,
            }
        }
        current
    }

    fn values_from_json(
        &self,
        properties: &Map<String, Value>,
    ) -> Result<Vec<(u16, Option<String>)>, StoreError> {
        let mut out = Vec::new();
        for (name, value) in properties {
            let index = self
                .props
                .index_of(name)
                .ok_or_else(|| StoreError::UnknownProperty(name.clone()))?;
            let text = match value {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            };
            out.push((index, text));
        }
        Ok(out)
    }

    /// Creates a record as HubSpot does: new id, created and modified now.
    pub fn create(
        &mut self,
        properties: &Map<String, Value>,
        now: i64,
        lag: Duration,
    ) -> Result<u64, StoreError> {
        let values = self.values_from_json(properties)?;
        let id = self.allocate_id(7);
        let mut data = RecordData {
            props: Vec::new(),
            created_ms: now,
            updated_ms: now,
        };
        for (index, value) in values {
            data.set(index, value.as_deref());
        }
        self.stamp(id, &mut data);
        let mut record = Record::new(id, data);
        record.mark_changed(lag, Instant::now(), None);
        self.live.insert(id, record);
        Ok(id)
    }

    /// Updates values and moves the last-modified property and `updatedAt` to `modified`.
    pub fn update(
        &mut self,
        id: u64,
        properties: &Map<String, Value>,
        modified: i64,
        lag: Duration,
    ) -> Result<u64, StoreError> {
        let values = self.values_from_json(properties)?;
        let id = self.resolve_id(id);
        let stamper = self.stamper();
        let record = self
            .live
            .get_mut(&id)
            .ok_or_else(|| StoreError::NotFound(self.info.plural.clone(), id))?;
        let previous = record.data.clone();
        let history = record.history.get_or_insert_with(Default::default);
        for (index, value) in values {
            if stamper.is_system(index) {
                continue;
            }
            let entries = history.entry(index).or_default();
            if entries.is_empty()
                && let Some(old) = previous.get(index)
            {
                entries.push(HistoryEntry {
                    value: old.to_string(),
                    timestamp_ms: previous.updated_ms,
                    source_type: "CRM_UI",
                });
            }
            entries.push(HistoryEntry {
                value: value.clone().unwrap_or_default(),
                timestamp_ms: modified,
                source_type: "API",
            });
            record.data.set(index, value.as_deref());
        }
        record.data.updated_ms = modified;
        stamper.apply(id, &mut record.data);
        record.mark_changed(lag, Instant::now(), Some(previous));
        Ok(id)
    }

    /// Moves a record to the recycle bin at `now` (epoch ms).
    pub fn archive(&mut self, id: u64, now: i64) -> Result<(), StoreError> {
        let id = self.resolve_id(id);
        let mut record = self
            .live
            .remove(&id)
            .ok_or_else(|| StoreError::NotFound(self.info.plural.clone(), id))?;
        record.archived_ms = Some(now);
        record.pending = None;
        self.archived.insert(id, record);
        Ok(())
    }

    /// Restores an archived record; HubSpot gives it a new `updatedAt`.
    pub fn restore(&mut self, id: u64, now: i64, lag: Duration) -> Result<(), StoreError> {
        let mut record = self
            .archived
            .remove(&id)
            .ok_or_else(|| StoreError::NotFound(self.info.plural.clone(), id))?;
        record.archived_ms = None;
        record.data.updated_ms = now;
        self.stamper().apply(id, &mut record.data);
        record.mark_changed(lag, Instant::now(), None);
        self.live.insert(id, record);
        Ok(())
    }

    /// Merges `merged` into `primary`. With `new_id` (HubSpot's current behaviour) the
    /// survivor is a new record with a new id and both old ids become aliases of it;
    /// otherwise the primary keeps its id. Returns the survivor's id.
    pub fn merge(
        &mut self,
        primary: u64,
        merged: u64,
        new_id: bool,
        now: i64,
        lag: Duration,
    ) -> Result<u64, StoreError> {
        let primary = self.resolve_id(primary);
        let merged = self.resolve_id(merged);
        if primary == merged {
            return Err(StoreError::Invalid(
                "cannot merge a record into itself".into(),
            ));
        }
        for id in [primary, merged] {
            if !self.live.contains_key(&id) {
                return Err(StoreError::NotFound(self.info.plural.clone(), id));
            }
        }
        let p = self
            .live
            .remove(&primary)
            .ok_or_else(|| StoreError::NotFound(String::new(), primary))?;
        let m = self
            .live
            .remove(&merged)
            .ok_or_else(|| StoreError::NotFound(String::new(), merged))?;
        let mut data = p.data.clone();
        // the primary's values win; the merged record fills the gaps
        for (index, value) in &m.data.props {
            if data.get(*index).is_none() {
                data.set(*index, Some(value));
            }
        }
        let mut merged_ids: Vec<String> = Vec::new();
        if let Some(prop) = self.merged_ids_prop {
            for source in [&p.data, &m.data] {
                if let Some(v) = source.get(prop) {
                    merged_ids.extend(v.split(';').map(str::to_string));
                }
            }
        }
        let survivor = if new_id { self.allocate_id(7) } else { primary };
        for old in [primary, merged] {
            if old != survivor {
                merged_ids.push(old.to_string());
                self.aliases.insert(old, survivor);
            }
        }
        if let Some(prop) = self.merged_ids_prop {
            data.set(prop, Some(&merged_ids.join(";")));
        }
        data.created_ms = p.data.created_ms.min(m.data.created_ms);
        if new_id {
            data.created_ms = now;
        }
        data.updated_ms = now;
        self.stamp(survivor, &mut data);
        let mut record = Record::new(survivor, data);
        record.mark_changed(
            lag,
            Instant::now(),
            if new_id { None } else { Some(p.data) },
        );
        self.live.insert(survivor, record);
        Ok(survivor)
    }

    /// Finds a live or archived record by id or alias.
    pub fn find(&self, id: u64, archived: bool) -> Option<&Record> {
        if archived {
            self.archived.get(&id).filter(|r| !r.purged(now_ms()))
        } else {
            self.live.get(&self.resolve_id(id))
        }
    }

    /// Finds a record by the value of a unique property (`idProperty`).
    pub fn find_by_property(&self, prop: u16, value: &str, archived: bool) -> Option<&Record> {
        let map = if archived { &self.archived } else { &self.live };
        let now = now_ms();
        map.values().find(|r| {
            !r.purged(now)
                && r.data
                    .get(prop)
                    .is_some_and(|v| v.eq_ignore_ascii_case(value))
        })
    }
}

/// Everything one portal holds.
#[derive(Debug, Clone)]
pub struct PortalData {
    pub hub_id: u64,
    pub tables: Vec<ObjectTable>,
    pub assoc: AssocStore,
    pub owners: Vec<Owner>,
    pub pipelines: Vec<Pipeline>,
    pub schemas: Vec<CustomSchema>,
}

impl PortalData {
    /// Finds the table a path segment names.
    pub fn table_index(&self, name: &str) -> Option<usize> {
        self.tables.iter().position(|t| t.info.answers_to(name))
    }

    /// Like [`Self::table_index`], also taking a custom object's bare name (`cars`): the
    /// control API's spelling, which HubSpot's paths do not accept.
    pub fn control_index(&self, name: &str) -> Result<usize, StoreError> {
        self.table_index(name)
            .or_else(|| self.tables.iter().position(|t| t.info.plural == name))
            .ok_or_else(|| StoreError::UnknownType(name.to_string()))
    }

    pub fn table(&self, name: &str) -> Result<&ObjectTable, StoreError> {
        self.control_index(name).map(|i| &self.tables[i])
    }

    pub fn table_mut(&mut self, name: &str) -> Result<&mut ObjectTable, StoreError> {
        let i = self.control_index(name)?;
        Ok(&mut self.tables[i])
    }

    /// Merges two records and moves the merged records' associations to the survivor.
    pub fn merge(
        &mut self,
        table: usize,
        primary: u64,
        merged: u64,
        new_id: bool,
        now: i64,
        lag: Duration,
    ) -> Result<u64, StoreError> {
        let t = &mut self.tables[table];
        let (p, m) = (t.resolve_id(primary), t.resolve_id(merged));
        let survivor = t.merge(p, m, new_id, now, lag)?;
        for old in [p, m] {
            if old != survivor {
                self.assoc.move_record(table, old, survivor);
            }
        }
        Ok(survivor)
    }
}
