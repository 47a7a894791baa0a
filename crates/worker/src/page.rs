//! One search page turned into rows: typed values by the table's fields (core's rules),
//! the first-class columns, and the association rows of the table's joins.

use std::collections::HashMap;

use hubsync_core::value::parse_timestamp;
use hubsync_core::{ChunkRange, Field, TableSpec, parse_record};
use hubsync_hubspot::{Association, Record};
use hubsync_store::{AssociationRow, RecordRow};

/// A page mapped for the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MappedPage {
    pub records: Vec<RecordRow>,
    /// Values kept as raw text because they did not parse as their field's type.
    pub unparsed_values: u64,
    /// Records whose last-modified time lies outside the chunk's range (HubSpot's index
    /// lags: API.md §18.6). They are written anyway: the store never lets an older
    /// version win, and dropping them could lose a record both chunks skip.
    pub outside_range: u64,
    /// The highest id of the page: the chunk's cursor once the page is written.
    pub last_id: Option<u64>,
}

/// A page HubSpot sent that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("record id {0:?} is not a positive 63-bit integer")]
    BadRecordId(String),
    #[error("association type id {0} does not fit 32 bits")]
    BadTypeId(i64),
}

/// Parses a HubSpot id (a decimal string) as a record id that fits the store's bigint.
pub fn parse_id(id: &str) -> Result<u64, PageError> {
    id.parse::<i64>()
        .ok()
        .and_then(|id| u64::try_from(id).ok())
        .ok_or_else(|| PageError::BadRecordId(id.to_owned()))
}

/// Maps every record of a page by the table's live fields.
pub fn map_page(
    table: &TableSpec,
    fields: &HashMap<String, Field>,
    range: &ChunkRange,
    results: &[Record],
) -> Result<MappedPage, PageError> {
    let mut page = MappedPage::default();
    for record in results {
        let id = parse_id(&record.id)?;
        let parsed = parse_record(
            |name| fields.get(name),
            record
                .properties
                .iter()
                .map(|(name, text)| (name.as_str(), text.as_deref())),
        );
        let modified_at = record
            .property(table.last_modified_property.as_str())
            .and_then(parse_timestamp)
            .unwrap_or(record.updated_at);
        let created_at = record
            .property(table.created_property.as_str())
            .and_then(parse_timestamp)
            .unwrap_or(record.created_at);
        if !range.contains(modified_at.timestamp_millis(), id) {
            page.outside_range += 1;
        }
        page.unparsed_values += parsed.unparsed.len() as u64;
        page.last_id = page.last_id.max(Some(id));
        page.records.push(RecordRow {
            id,
            name: record
                .property(table.name_property.as_str())
                .map(str::to_owned),
            currency: table
                .currency_property
                .as_ref()
                .and_then(|property| record.property(property.as_str()))
                .map(str::to_owned),
            values: parsed.values,
            unparsed: parsed.unparsed,
            created_at: Some(created_at),
            modified_at,
            // Search never returns archived records; deletions are a later issue.
            deleted_at: None,
        });
    }
    Ok(page)
}

/// The rows of one association batch read: one per (pair, type).
pub fn association_rows(associations: &[Association]) -> Result<Vec<AssociationRow>, PageError> {
    let mut rows = Vec::new();
    for association in associations {
        let from_id = parse_id(&association.from_id)?;
        let to_id = parse_id(&association.to_id)?;
        for kind in &association.types {
            rows.push(AssociationRow {
                from_id,
                to_id,
                type_id: i32::try_from(kind.type_id)
                    .map_err(|_| PageError::BadTypeId(kind.type_id))?,
                category: kind.category.clone(),
                label: kind.label.clone(),
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use hubsync_core::catalog::standard_table;
    use hubsync_core::metadata::PropertyDefinition;
    use hubsync_core::{MappingContext, ModifiedRange, TableName, map_properties};
    use hubsync_hubspot::AssociationType;
    use serde_json::{Value, json};

    use super::*;

    fn deals_fields() -> HashMap<String, Field> {
        let definitions: Vec<PropertyDefinition> = serde_json::from_value(json!([
            {"name": "dealname", "label": "Deal name", "type": "string", "fieldType": "text"},
            {"name": "amount", "label": "Amount", "type": "number", "fieldType": "number",
             "showCurrencySymbol": true},
            {"name": "closedate", "label": "Close date", "type": "datetime", "fieldType": "date"},
            {"name": "hs_lastmodifieddate", "label": "Modified", "type": "datetime", "fieldType": "date"},
            {"name": "deal_currency_code", "label": "Currency", "type": "enumeration", "fieldType": "select"}
        ]))
        .unwrap();
        let table = standard_table(&TableName::DEALS).unwrap();
        map_properties(&table, &definitions, MappingContext::default())
            .fields
            .into_iter()
            .map(|field| (field.name.as_str().to_owned(), field))
            .collect()
    }

    fn record(id: &str, properties: serde_json::Value) -> Record {
        serde_json::from_value(json!({
            "id": id, "properties": properties,
            "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-02T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn values_are_typed_and_unparsable_ones_kept_apart() {
        let table = standard_table(&TableName::DEALS).unwrap();
        let range = ChunkRange::time(ModifiedRange::from_millis(1_000, 1_800_000_000_000).unwrap());
        let page = map_page(
            &table,
            &deals_fields(),
            &range,
            &[
                record("12", json!({"dealname": "Big", "amount": "1500.50", "deal_currency_code": "EUR",
                    "closedate": "2024-03-01T10:00:00Z", "hs_lastmodifieddate": "2024-02-01T00:00:00.123Z"})),
                record("7", json!({"dealname": null, "amount": "N/A",
                    "createdate": "2023-05-06T07:08:09Z"})),
            ],
        )
        .unwrap();
        let first = &page.records[0];
        assert_eq!(first.id, 12);
        assert_eq!(first.name.as_deref(), Some("Big"));
        assert_eq!(first.currency.as_deref(), Some("EUR"));
        assert_eq!(first.values["amount"], json!(1500.5));
        assert_eq!(first.values["closedate"], json!("2024-03-01T10:00:00.000Z"));
        assert_eq!(first.modified_at.timestamp_millis(), 1_706_745_600_123);
        assert_eq!(
            first.created_at.unwrap().to_rfc3339(),
            "2024-01-01T00:00:00+00:00"
        );
        let second = &page.records[1];
        assert_eq!(second.name, None);
        assert_eq!(
            second.created_at.unwrap().to_rfc3339(),
            "2023-05-06T07:08:09+00:00",
            "the created property wins over createdAt"
        );
        assert_eq!(second.values["amount"], Value::Null);
        assert_eq!(second.unparsed["amount"], json!("N/A"));
        assert_eq!(second.modified_at.to_rfc3339(), "2024-01-02T00:00:00+00:00");
        assert_eq!(page.unparsed_values, 1);
        assert_eq!(page.last_id, Some(12));
        assert_eq!(page.outside_range, 0);
    }

    #[test]
    fn records_outside_the_range_are_counted_and_kept() {
        let table = standard_table(&TableName::DEALS).unwrap();
        let range = ChunkRange::time(ModifiedRange::from_millis(1_000, 2_000).unwrap());
        let page = map_page(&table, &deals_fields(), &range, &[record("1", json!({}))]).unwrap();
        assert_eq!(page.outside_range, 1);
        assert_eq!(page.records.len(), 1);
    }

    #[test]
    fn a_bad_id_is_refused() {
        let table = standard_table(&TableName::DEALS).unwrap();
        let range = ChunkRange::time(ModifiedRange::from_millis(1_000, 2_000).unwrap());
        assert_eq!(
            map_page(&table, &deals_fields(), &range, &[record("x1", json!({}))]),
            Err(PageError::BadRecordId("x1".into()))
        );
    }

    #[test]
    fn association_types_become_rows() {
        let kind = |type_id, label: Option<&str>| AssociationType {
            category: "HUBSPOT_DEFINED".into(),
            type_id,
            label: label.map(str::to_owned),
        };
        let rows = association_rows(&[Association {
            from_id: "5".into(),
            to_id: "9".into(),
            types: vec![kind(5, Some("Primary")), kind(341, None)],
        }])
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].from_id, rows[0].to_id, rows[0].type_id), (5, 9, 5));
        assert_eq!(rows[0].label.as_deref(), Some("Primary"));
        assert_eq!(rows[1].label, None);
        let too_big = Association {
            from_id: "5".into(),
            to_id: "9".into(),
            types: vec![kind(i64::from(i32::MAX) + 1, None)],
        };
        assert!(association_rows(&[too_big]).is_err());
    }
}
