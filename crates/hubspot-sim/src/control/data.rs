//! Control operations on a portal's data: records, merges, associations, property
//! definitions (schema drift) and owners — and the ground truth tests read back.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{
    AssociationChange, ControlError, PropertyChange, SimAssociation, SimAssociationType,
    SimControl, SimRecord, record_of,
};
use crate::state::{read, write};
use crate::store::{PropertyDef, Record, RecordData, StoreError, fmt_ms, now_ms};

impl SimControl {
    /// Every record of a table: live ones, plus archived ones when asked.
    pub fn records(
        &self,
        hub_id: u64,
        object_type: &str,
        include_archived: bool,
    ) -> Result<Vec<SimRecord>, ControlError> {
        let portal = self.portal(hub_id)?;
        let data = read(&portal.data);
        let table = data.table(object_type)?;
        let mut out: Vec<SimRecord> = table.live.values().map(|r| record_of(table, r)).collect();
        if include_archived {
            let now = now_ms();
            out.extend(
                table
                    .archived
                    .values()
                    .filter(|r| !r.purged(now))
                    .map(|r| record_of(table, r)),
            );
        }
        Ok(out)
    }

    /// One record by id (merged-away ids resolve to the survivor; archived ones are found).
    pub fn record(
        &self,
        hub_id: u64,
        object_type: &str,
        id: u64,
    ) -> Result<Option<SimRecord>, ControlError> {
        let portal = self.portal(hub_id)?;
        let data = read(&portal.data);
        let table = data.table(object_type)?;
        Ok(table
            .find(id, false)
            .or_else(|| table.find(id, true))
            .map(|r| record_of(table, r)))
    }

    /// Merged-away id → survivor id, for a table.
    pub fn merged_ids(
        &self,
        hub_id: u64,
        object_type: &str,
    ) -> Result<BTreeMap<u64, u64>, ControlError> {
        let portal = self.portal(hub_id)?;
        let data = read(&portal.data);
        let table = data.table(object_type)?;
        Ok(table
            .aliases
            .keys()
            .map(|k| (*k, table.resolve_id(*k)))
            .collect())
    }

    pub fn create_record(
        &self,
        hub_id: u64,
        object_type: &str,
        properties: &Map<String, Value>,
    ) -> Result<SimRecord, ControlError> {
        let portal = self.portal(hub_id)?;
        let lag = portal.index_lag();
        let mut data = write(&portal.data);
        let table = data.table_mut(object_type)?;
        let id = table.create(properties, now_ms(), lag)?;
        live_record(table, object_type, id)
    }

    /// Updates a record; its last-modified property and `updatedAt` move to now (or to
    /// `modified_at`, epoch ms, to stage clusters such as an import's single millisecond).
    pub fn update_record(
        &self,
        hub_id: u64,
        object_type: &str,
        id: u64,
        properties: &Map<String, Value>,
        modified_at: Option<i64>,
    ) -> Result<SimRecord, ControlError> {
        let portal = self.portal(hub_id)?;
        let lag = portal.index_lag();
        let mut data = write(&portal.data);
        let table = data.table_mut(object_type)?;
        let id = table.update(id, properties, modified_at.unwrap_or_else(now_ms), lag)?;
        live_record(table, object_type, id)
    }

    /// Moves a record to the recycle bin now.
    pub fn archive_record(
        &self,
        hub_id: u64,
        object_type: &str,
        id: u64,
    ) -> Result<(), ControlError> {
        self.archive_record_at(hub_id, object_type, id, now_ms())
    }

    /// Archives with a chosen `archivedAt` (epoch ms), e.g. past the 90-day recycle bin.
    pub fn archive_record_at(
        &self,
        hub_id: u64,
        object_type: &str,
        id: u64,
        archived_at_ms: i64,
    ) -> Result<(), ControlError> {
        let portal = self.portal(hub_id)?;
        let mut data = write(&portal.data);
        Ok(data.table_mut(object_type)?.archive(id, archived_at_ms)?)
    }

    pub fn restore_record(
        &self,
        hub_id: u64,
        object_type: &str,
        id: u64,
    ) -> Result<(), ControlError> {
        let portal = self.portal(hub_id)?;
        let lag = portal.index_lag();
        let mut data = write(&portal.data);
        Ok(data.table_mut(object_type)?.restore(id, now_ms(), lag)?)
    }

    /// Merges two records; returns the survivor (a new id unless `keep_primary_id`).
    pub fn merge_records(
        &self,
        hub_id: u64,
        object_type: &str,
        primary: u64,
        merged: u64,
        keep_primary_id: bool,
    ) -> Result<SimRecord, ControlError> {
        let portal = self.portal(hub_id)?;
        let lag = portal.index_lag();
        let mut data = write(&portal.data);
        let index = data.control_index(object_type)?;
        let survivor = data.merge(index, primary, merged, !keep_primary_id, now_ms(), lag)?;
        live_record(&data.tables[index], object_type, survivor)
    }

    /// Adds `count` records with generated values; with `same_millisecond` they all share one
    /// created and last-modified millisecond, as after a bulk import.
    pub fn generate_records(
        &self,
        hub_id: u64,
        object_type: &str,
        count: usize,
        same_millisecond: bool,
    ) -> Result<Vec<u64>, ControlError> {
        let portal = self.portal(hub_id)?;
        let lag = portal.index_lag();
        let mut data = write(&portal.data);
        let table = data.table_mut(object_type)?;
        let stamper = table.stamper();
        let name = table
            .props
            .index_of("firstname")
            .or_else(|| table.props.index_of("name"))
            .or_else(|| table.props.index_of("dealname"));
        let at = now_ms();
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let id = table.allocate_id(3);
            let ms = if same_millisecond { at } else { at + i as i64 };
            let mut record_data = RecordData {
                props: Vec::new(),
                created_ms: ms,
                updated_ms: ms,
            };
            if let Some(p) = name {
                record_data.set(p, Some(&format!("Generated {id}")));
            }
            stamper.apply(id, &mut record_data);
            let mut record = Record::new(id, record_data);
            record.mark_changed(lag, std::time::Instant::now(), None);
            table.live.insert(id, record);
            ids.push(id);
        }
        Ok(ids)
    }

    pub fn associations(
        &self,
        hub_id: u64,
        from_type: &str,
        to_type: &str,
    ) -> Result<Vec<SimAssociation>, ControlError> {
        let portal = self.portal(hub_id)?;
        let data = read(&portal.data);
        let from = data.control_index(from_type)?;
        let to = data.control_index(to_type)?;
        // what HubSpot shows: links between records that are not archived
        let (from_live, to_live) = (&data.tables[from].live, &data.tables[to].live);
        Ok(data
            .assoc
            .all(from, to)
            .filter(|(from_id, link)| {
                from_live.contains_key(from_id) && to_live.contains_key(&link.to_id)
            })
            .map(|(from_id, link)| SimAssociation {
                from_id,
                to_id: link.to_id,
                type_ids: link.type_ids.clone(),
            })
            .collect())
    }

    /// The association types from one object type to another, with their categories
    /// and labels.
    pub fn association_types(
        &self,
        hub_id: u64,
        from_type: &str,
        to_type: &str,
    ) -> Result<Vec<SimAssociationType>, ControlError> {
        let portal = self.portal(hub_id)?;
        let data = read(&portal.data);
        let from = data.control_index(from_type)?;
        let to = data.control_index(to_type)?;
        Ok(data
            .assoc
            .defs_for(from, to)
            .map(|def| SimAssociationType {
                type_id: def.type_id,
                category: def.category.as_str().to_owned(),
                label: def.label.clone(),
            })
            .collect())
    }

    /// Associates two records in both directions. The records' last-modified dates do not
    /// move, as in HubSpot (API.md §18.13).
    pub fn associate(&self, hub_id: u64, change: &AssociationChange) -> Result<(), ControlError> {
        let portal = self.portal(hub_id)?;
        let mut data = write(&portal.data);
        let from = data.control_index(&change.from_type)?;
        let to = data.control_index(&change.to_type)?;
        for (t, id) in [(from, change.from_id), (to, change.to_id)] {
            if !data.tables[t].live.contains_key(&id) {
                return Err(StoreError::NotFound(data.tables[t].info.plural.clone(), id).into());
            }
        }
        match &change.type_ids {
            Some(types) => {
                if let Some(bad) = types
                    .iter()
                    .find(|t| data.assoc.def(from, to, **t).is_none())
                {
                    return Err(ControlError::Invalid(format!(
                        "no association type {bad} from {} to {}",
                        change.from_type, change.to_type
                    )));
                }
                data.assoc
                    .associate_types(from, change.from_id, to, change.to_id, types);
            }
            None => {
                if !data
                    .assoc
                    .associate(from, change.from_id, to, change.to_id, change.primary)
                {
                    return Err(ControlError::Invalid(format!(
                        "{} and {} cannot be associated",
                        change.from_type, change.to_type
                    )));
                }
            }
        }
        Ok(())
    }

    pub fn dissociate(
        &self,
        hub_id: u64,
        from_type: &str,
        from_id: u64,
        to_type: &str,
        to_id: u64,
    ) -> Result<bool, ControlError> {
        let portal = self.portal(hub_id)?;
        let mut data = write(&portal.data);
        let from = data.control_index(from_type)?;
        let to = data.control_index(to_type)?;
        Ok(data.assoc.dissociate(from, from_id, to, to_id))
    }

    /// Every property definition of a table, archived ones included.
    pub fn properties(&self, hub_id: u64, object_type: &str) -> Result<Vec<Value>, ControlError> {
        let portal = self.portal(hub_id)?;
        let data = read(&portal.data);
        let table = data.table(object_type)?;
        Ok(table
            .props
            .defs
            .iter()
            .map(crate::api::metadata_property_json)
            .collect())
    }

    /// Adds (or replaces) a property definition: schema drift.
    pub fn add_property(
        &self,
        hub_id: u64,
        object_type: &str,
        definition: Value,
    ) -> Result<Value, ControlError> {
        let portal = self.portal(hub_id)?;
        let mut data = write(&portal.data);
        let table = data.table_mut(object_type)?;
        let mut definition = definition;
        let now = fmt_ms(now_ms());
        for (key, default) in [
            ("description", Value::from("")),
            (
                "groupName",
                Value::from(format!("{}information", table.info.singular)),
            ),
            ("options", Value::Array(Vec::new())),
            ("displayOrder", Value::from(-1)),
            ("calculated", Value::Bool(false)),
            ("externalOptions", Value::Bool(false)),
            ("hasUniqueValue", Value::Bool(false)),
            ("hidden", Value::Bool(false)),
            ("hubspotDefined", Value::Bool(false)),
            (
                "modificationMetadata",
                serde_json::json!({"archivable": true, "readOnlyDefinition": false, "readOnlyValue": false}),
            ),
            ("formField", Value::Bool(false)),
            ("dataSensitivity", Value::from("non_sensitive")),
            ("archived", Value::Bool(false)),
            ("createdAt", Value::from(now.clone())),
            ("updatedAt", Value::from(now)),
        ] {
            if definition.get(key).is_none() {
                definition[key] = default;
            }
        }
        if definition.get("label").is_none() {
            definition["label"] = definition.get("name").cloned().unwrap_or(Value::Null);
        }
        let def = PropertyDef::from_json(definition)
            .ok_or_else(|| ControlError::Invalid("a property needs a name".into()))?;
        let index = table.props.push(def);
        Ok(crate::api::metadata_property_json(table.props.def(index)))
    }

    /// Archives a property: it leaves reads and search, and lists only with archived=true.
    pub fn archive_property(
        &self,
        hub_id: u64,
        object_type: &str,
        name: &str,
    ) -> Result<(), ControlError> {
        let portal = self.portal(hub_id)?;
        let mut data = write(&portal.data);
        let table = data.table_mut(object_type)?;
        let index = table
            .props
            .index_of(name)
            .ok_or_else(|| StoreError::UnknownProperty(name.into()))?;
        if table.stamper().is_system(index) {
            return Err(ControlError::Invalid(format!(
                "{name} is a system property"
            )));
        }
        let now = fmt_ms(now_ms());
        let def = table.props.def_mut(index);
        def.archived = true;
        def.json["archived"] = Value::Bool(true);
        def.json["archivedAt"] = Value::from(now);
        Ok(())
    }

    /// Changes a property's type, field type or options; stored values stay as they are.
    pub fn retype_property(
        &self,
        hub_id: u64,
        object_type: &str,
        name: &str,
        change: &PropertyChange,
    ) -> Result<Value, ControlError> {
        let portal = self.portal(hub_id)?;
        let mut data = write(&portal.data);
        let table = data.table_mut(object_type)?;
        let index = table
            .props
            .index_of(name)
            .ok_or_else(|| StoreError::UnknownProperty(name.into()))?;
        let def = table.props.def_mut(index);
        let mut json = def.json.clone();
        if let Some(t) = &change.ptype {
            json["type"] = Value::from(t.clone());
        }
        if let Some(f) = &change.field_type {
            json["fieldType"] = Value::from(f.clone());
        }
        if let Some(o) = &change.options {
            json["options"] = o.clone();
        }
        json["updatedAt"] = Value::from(fmt_ms(now_ms()));
        let archived = def.archived;
        *def = PropertyDef::from_json(json)
            .ok_or_else(|| ControlError::Invalid("bad definition".into()))?;
        def.archived = archived;
        Ok(crate::api::metadata_property_json(def))
    }

    pub fn owners(&self, hub_id: u64) -> Result<Vec<Value>, ControlError> {
        let portal = self.portal(hub_id)?;
        let data = read(&portal.data);
        Ok(data.owners.iter().map(|o| o.to_json()).collect())
    }

    /// Deactivates an owner (it moves to the `archived=true` list with `userId: null`).
    pub fn archive_owner(&self, hub_id: u64, owner_id: u64) -> Result<(), ControlError> {
        let portal = self.portal(hub_id)?;
        let mut data = write(&portal.data);
        let owner = data
            .owners
            .iter_mut()
            .find(|o| o.id == owner_id)
            .ok_or_else(|| ControlError::Invalid(format!("no owner {owner_id}")))?;
        owner.archived = true;
        owner.updated_ms = now_ms();
        Ok(())
    }
}

/// A live record as the control API shows it (after a create or an update).
fn live_record(
    table: &crate::store::ObjectTable,
    object_type: &str,
    id: u64,
) -> Result<SimRecord, ControlError> {
    let record = table
        .live
        .get(&id)
        .ok_or(StoreError::NotFound(object_type.into(), id))?;
    Ok(record_of(table, record))
}
