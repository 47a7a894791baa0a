//! Portal metadata beside the records: owners, deal pipelines and custom-object schemas.

use serde::Serialize;
use serde_json::Value;

use super::fmt_ms;

/// An owner (a user of the portal or a queue).
#[derive(Debug, Clone, Serialize)]
pub struct Owner {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub user_id: u64,
    pub archived: bool,
    pub teams: Vec<(u64, String, bool)>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl Owner {
    /// The owner as `/crm/v3/owners` returns it; archived owners lose `userId`.
    pub fn to_json(&self) -> Value {
        let mut o = serde_json::json!({
            "id": self.id.to_string(),
            "email": self.email,
            "type": "PERSON",
            "firstName": self.first_name,
            "lastName": self.last_name,
            "userId": if self.archived { Value::Null } else { Value::from(self.user_id) },
            "userIdIncludingInactive": self.user_id,
            "createdAt": fmt_ms(self.created_ms),
            "updatedAt": fmt_ms(self.updated_ms),
            "archived": self.archived,
        });
        if !self.teams.is_empty() {
            o["teams"] = self
                .teams
                .iter()
                .map(|(id, name, primary)| serde_json::json!({"id": id.to_string(), "name": name, "primary": primary}))
                .collect();
        }
        o
    }
}

#[derive(Debug, Clone)]
pub struct Stage {
    pub id: String,
    pub label: String,
    pub probability: String,
    pub is_closed: bool,
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    pub id: String,
    pub label: String,
    pub display_order: i64,
    pub stages: Vec<Stage>,
    pub created_ms: i64,
}

impl Pipeline {
    pub fn to_json(&self) -> Value {
        let ts = fmt_ms(self.created_ms);
        serde_json::json!({
            "id": self.id,
            "label": self.label,
            "displayOrder": self.display_order,
            "stages": self.stages.iter().enumerate().map(|(i, s)| serde_json::json!({
                "id": s.id,
                "label": s.label,
                "displayOrder": i,
                // HubSpot sends stage metadata values as strings
                "metadata": {"probability": s.probability, "isClosed": s.is_closed.to_string()},
                "createdAt": ts,
                "updatedAt": ts,
                "archived": false,
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
            })).collect::<Vec<_>>(),
            "createdAt": ts,
            "updatedAt": ts,
            "archived": false,
        })
    }
}

/// The definition of a custom object, beside its table.
#[derive(Debug, Clone)]
pub struct CustomSchema {
    pub id: u64,
    pub name: String,
    pub label_singular: String,
    pub label_plural: String,
    pub description: String,
    pub primary_display_property: String,
    pub secondary_display_properties: Vec<String>,
    pub required_properties: Vec<String>,
    pub searchable_properties: Vec<String>,
    pub archived: bool,
    pub created_ms: i64,
    /// The table holding its records (None for an archived schema kept only as metadata).
    pub table: Option<usize>,
}
