//! Property definitions of one table: HubSpot's JSON kept whole for the properties endpoint,
//! plus the parsed essentials the generator and search need.

use std::collections::HashMap;

use serde_json::Value;

/// HubSpot's property `type`, the part that decides how values compare and are generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    String,
    Number,
    Date,
    Datetime,
    Enumeration,
    Bool,
    PhoneNumber,
    /// `object_coordinates`, `json` and anything new: text.
    Other,
}

impl PropType {
    pub fn parse(s: &str) -> Self {
        match s {
            "string" => Self::String,
            "number" => Self::Number,
            "date" => Self::Date,
            "datetime" => Self::Datetime,
            "enumeration" => Self::Enumeration,
            "bool" => Self::Bool,
            "phone_number" => Self::PhoneNumber,
            _ => Self::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Date => "date",
            Self::Datetime => "datetime",
            Self::Enumeration => "enumeration",
            Self::Bool => "bool",
            Self::PhoneNumber => "phone_number",
            Self::Other => "string",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PropertyDef {
    pub name: String,
    pub ptype: PropType,
    pub field_type: String,
    pub options: Vec<String>,
    pub external_options: bool,
    pub referenced_object_type: Option<String>,
    pub hidden: bool,
    pub calculated: bool,
    pub archived: bool,
    /// The definition as the properties endpoint returns it.
    pub json: Value,
}

impl PropertyDef {
    pub fn from_json(json: Value) -> Option<Self> {
        let name = json.get("name")?.as_str()?.to_string();
        let ptype = PropType::parse(json.get("type").and_then(Value::as_str).unwrap_or("string"));
        let field_type = json
            .get("fieldType")
            .and_then(Value::as_str)
            .unwrap_or("text")
            .to_string();
        let options = json
            .get("options")
            .and_then(Value::as_array)
            .map(|o| {
                o.iter()
                    .filter_map(|opt| opt.get("value").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let flag = |key: &str| json.get(key).and_then(Value::as_bool).unwrap_or(false);
        Some(Self {
            external_options: flag("externalOptions"),
            hidden: flag("hidden"),
            calculated: flag("calculated") || field_type.starts_with("calculation_"),
            archived: flag("archived"),
            referenced_object_type: json
                .get("referencedObjectType")
                .and_then(Value::as_str)
                .map(str::to_string),
            name,
            ptype,
            field_type,
            options,
            json,
        })
    }

    /// Whether values are `;`-joined lists (multi-select checkboxes).
    pub fn is_multi(&self) -> bool {
        self.ptype == PropType::Enumeration && self.field_type == "checkbox"
    }
}

/// The property definitions of a table, addressable by name and by a small index that
/// records use instead of repeating the names.
#[derive(Debug, Clone, Default)]
pub struct PropertyCatalog {
    pub defs: Vec<PropertyDef>,
    by_name: HashMap<String, u16>,
}

impl PropertyCatalog {
    pub fn from_json(items: &[Value]) -> Self {
        let mut catalog = Self::default();
        for item in items {
            if let Some(def) = PropertyDef::from_json(item.clone()) {
                catalog.push(def);
            }
        }
        catalog
    }

    pub fn push(&mut self, def: PropertyDef) -> u16 {
        if let Some(index) = self.by_name.get(&def.name) {
            let index = *index;
            self.defs[usize::from(index)] = def;
            return index;
        }
        // tables hold a few hundred properties; u16 leaves room for any realistic drift
        let index = u16::try_from(self.defs.len()).unwrap_or(u16::MAX);
        self.by_name.insert(def.name.clone(), index);
        self.defs.push(def);
        index
    }

    /// Index of a property that must exist (system properties), created if missing.
    pub fn ensure(&mut self, name: &str, ptype: PropType) -> u16 {
        if let Some(index) = self.by_name.get(name) {
            return *index;
        }
        let json = serde_json::json!({
            "name": name, "label": name, "type": ptype.as_str(),
            "fieldType": if matches!(ptype, PropType::Datetime | PropType::Date) { "date" } else { "text" },
            "description": "", "groupName": "system", "options": [], "displayOrder": -1,
            "calculated": false, "externalOptions": false, "hasUniqueValue": false,
            "hidden": true, "hubspotDefined": true,
            "modificationMetadata": {"archivable": false, "readOnlyDefinition": true, "readOnlyValue": true},
            "formField": false, "dataSensitivity": "non_sensitive", "archived": false,
        });
        match PropertyDef::from_json(json) {
            Some(def) => self.push(def),
            None => 0,
        }
    }

    /// Index of a property, archived or not.
    pub fn index_of(&self, name: &str) -> Option<u16> {
        self.by_name.get(name).copied()
    }

    /// Index of a property that is not archived: the ones reads and search know.
    pub fn active(&self, name: &str) -> Option<u16> {
        self.index_of(name)
            .filter(|i| !self.defs[usize::from(*i)].archived)
    }

    pub fn def(&self, index: u16) -> &PropertyDef {
        &self.defs[usize::from(index)]
    }

    pub fn def_mut(&mut self, index: u16) -> &mut PropertyDef {
        &mut self.defs[usize::from(index)]
    }
}
