//! The seeded portal generator: the same seed, hub id and options give the same portal.
//!
//! Ids grow with creation time and are sparse and large (most above 2^32) like HubSpot's;
//! timestamps spread over the three years before the reference time so that modified-date
//! windows select meaningful slices.

mod definitions;
mod values;

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::catalog::{self, STANDARD_TYPES};
use crate::config::GeneratorOptions;
use crate::store::{
    AssocStore, ObjectTable, Owner, Pipeline, PortalData, PropertyCatalog, Record, RecordData,
    Stage, TypeInfo, fmt_ms,
};
use definitions::{add_stage_properties, association_defs, cars};
use values::{PlanItem, ValueContext, pick, plan_property, value};

const DAY_MS: i64 = 86_400_000;
const YEAR_MS: i64 = 365 * DAY_MS;

/// What to generate for one portal.
#[derive(Debug, Clone)]
pub struct PortalSpec {
    pub seed: u64,
    pub hub_id: u64,
    pub records_per_table: usize,
    pub options: GeneratorOptions,
}

/// The reference time of a generation: given, or today at midnight UTC.
pub fn reference_time(options: &GeneratorOptions) -> DateTime<Utc> {
    options.reference_time.unwrap_or_else(|| {
        let today = Utc::now().date_naive();
        today
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or_else(Utc::now)
    })
}

/// Hub ids of the generated portals, derived from the seed (8-digit, like real ones).
pub fn hub_id_for(seed: u64, index: usize) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let base: u64 = rng.random_range(20_000_000..90_000_000);
    base + (index as u64) * 1_117
}

struct Generator {
    rng: ChaCha8Rng,
    reference_ms: i64,
    owners: Vec<u64>,
    archived_owners: Vec<u64>,
    user_ids: Vec<u64>,
    teams: Vec<u64>,
}

pub fn generate(spec: &PortalSpec) -> PortalData {
    let reference_ms = reference_time(&spec.options).timestamp_millis();
    let mut g = Generator {
        rng: ChaCha8Rng::seed_from_u64(spec.seed ^ spec.hub_id.rotate_left(17)),
        reference_ms,
        owners: Vec::new(),
        archived_owners: Vec::new(),
        user_ids: Vec::new(),
        teams: Vec::new(),
    };
    let owners = g.owners(&spec.options);
    let pipelines = g.pipelines();

    let mut tables: Vec<ObjectTable> = STANDARD_TYPES
        .iter()
        .map(|t| {
            let mut props = PropertyCatalog::from_json(catalog::standard_properties(t));
            if t.plural == "deals" {
                add_stage_properties(&mut props, &pipelines);
            }
            let info = TypeInfo {
                plural: t.plural.into(),
                singular: t.singular.into(),
                type_id: t.type_id.into(),
                fully_qualified: None,
                inline_key: t.inline_key.into(),
                created_prop: t.created_prop.into(),
                modified_prop: t.modified_prop.into(),
                default_props: t.default_props.iter().map(|s| s.to_string()).collect(),
                read_scopes: t.read_scopes.iter().map(|s| s.to_string()).collect(),
                schema_scopes: t.schema_scopes.iter().map(|s| s.to_string()).collect(),
                searchable: t.searchable.iter().map(|s| s.to_string()).collect(),
                custom: false,
            };
            let first_id = g.rng.random_range(10_000_000_000..60_000_000_000);
            ObjectTable::new(info, props, first_id)
        })
        .collect();

    let custom_id: u64 = g.rng.random_range(3_000_000..9_000_000);
    let (cars_table, schemas) = cars(spec.hub_id, custom_id, reference_ms, &mut g.rng);
    tables.push(cars_table);

    let mut assoc = association_defs(&tables);

    let n = spec.records_per_table;
    for (index, table) in tables.iter_mut().enumerate() {
        let count = match table.info.plural.as_str() {
            "goal_targets" => (n / 10).max(5),
            "products" => (n / 4).max(5),
            "cars" => (n / 2).max(5),
            _ => n,
        };
        g.fill(table, count, &pipelines, index as u64);
    }
    g.associate(&tables, &mut assoc);

    let mut data = PortalData {
        hub_id: spec.hub_id,
        tables,
        assoc,
        owners,
        pipelines,
        schemas,
    };
    g.merges(&mut data, spec.options.merges_per_table);
    g.archive(&mut data, spec.options.archived_per_table);
    // last, so that merges and archiving leave the cluster whole
    if let Some(bulk) = &spec.options.bulk_import
        && let Some(index) = data.table_index(&bulk.table)
    {
        g.bulk_import(&mut data.tables[index], bulk.count);
    }
    data
}

impl Generator {
    fn owners(&mut self, options: &GeneratorOptions) -> Vec<Owner> {
        let team_names = ["Sales Team", "Customer Success", "Partners"];
        self.teams = (0..team_names.len())
            .map(|_| self.rng.random_range(100_000..9_999_999))
            .collect();
        let mut next_owner: u64 = self.rng.random_range(30_000_000..60_000_000);
        let mut next_user: u64 = self.rng.random_range(1_000_000..9_000_000);
        let total = options.owners + options.archived_owners;
        (0..total)
            .map(|i| {
                next_owner += self.rng.random_range(1..50_000);
                next_user += self.rng.random_range(1..5_000);
                let archived = i >= options.owners;
                let first = pick(&mut self.rng, values::FIRST_NAMES).to_string();
                let last = pick(&mut self.rng, values::LAST_NAMES).to_string();
                let team = self.rng.random_range(0..self.teams.len() + 1);
                let created = self.reference_ms - self.rng.random_range(0..3 * YEAR_MS);
                self.user_ids.push(next_user);
                if archived {
                    self.archived_owners.push(next_owner);
                } else {
                    self.owners.push(next_owner);
                }
                Owner {
                    id: next_owner,
                    email: format!("{}.{}{}@sim.example.com", ascii(&first), ascii(&last), i),
                    // deactivated users often come back with empty names
                    first_name: if archived && i % 2 == 0 {
                        String::new()
                    } else {
                        first
                    },
                    last_name: if archived && i % 2 == 0 {
                        String::new()
                    } else {
                        last
                    },
                    user_id: next_user,
                    archived,
                    teams: if team < self.teams.len() {
                        vec![(self.teams[team], team_names[team].to_string(), true)]
                    } else {
                        Vec::new()
                    },
                    created_ms: created,
                    updated_ms: created
                        + self
                            .rng
                            .random_range(0..(self.reference_ms - created).max(1)),
                }
            })
            .collect()
    }

    fn pipelines(&mut self) -> Vec<Pipeline> {
        let stage = |id: &str, label: &str, p: &str, closed: bool| Stage {
            id: id.into(),
            label: label.into(),
            probability: p.into(),
            is_closed: closed,
        };
        let default = Pipeline {
            id: "default".into(),
            label: "Sales Pipeline".into(),
            display_order: 0,
            stages: vec![
                stage(
                    "appointmentscheduled",
                    "Appointment Scheduled",
                    "0.2",
                    false,
                ),
                stage("qualifiedtobuy", "Qualified To Buy", "0.4", false),
                stage(
                    "presentationscheduled",
                    "Presentation Scheduled",
                    "0.6",
                    false,
                ),
                stage(
                    "decisionmakerboughtin",
                    "Decision Maker Bought-In",
                    "0.8",
                    false,
                ),
                stage("contractsent", "Contract Sent", "0.9", false),
                stage("closedwon", "Closed Won", "1.0", true),
                stage("closedlost", "Closed Lost", "0.0", true),
            ],
            created_ms: self.reference_ms - 4 * YEAR_MS,
        };
        // pipelines made in a portal get numeric ids, and so do their stages
        let pipeline_id: u64 = self.rng.random_range(10_000_000..99_999_999);
        let mut stage_id = pipeline_id * 10;
        let mut next_stage = |label: &str, p: &str, closed: bool| {
            stage_id += 1;
            stage(&stage_id.to_string(), label, p, closed)
        };
        let renewals = Pipeline {
            id: pipeline_id.to_string(),
            label: "Renewals".into(),
            display_order: 1,
            stages: vec![
                next_stage("Renewal due", "0.3", false),
                next_stage("Negotiation", "0.7", false),
                next_stage("Renewed", "1.0", true),
                next_stage("Churned", "0.0", true),
            ],
            created_ms: self.reference_ms - 2 * YEAR_MS,
        };
        vec![default, renewals]
    }

    fn fill(&mut self, table: &mut ObjectTable, count: usize, pipelines: &[Pipeline], salt: u64) {
        let important: Vec<String> = table.info.default_props.clone();
        let plan: Vec<PlanItem> = table
            .props
            .defs
            .iter()
            .enumerate()
            .filter_map(|(i, def)| {
                let index = u16::try_from(i).ok()?;
                if table.stamper().is_system(index) || def.name == "hs_merged_object_ids" {
                    return None;
                }
                let is_important =
                    important.contains(&def.name) || table.info.searchable.contains(&def.name);
                plan_property(def, is_important).map(|(probability, kind)| PlanItem {
                    index,
                    probability,
                    kind,
                })
            })
            .collect();
        let pipeline_prop = table.props.index_of("pipeline");
        let stage_prop = table.props.index_of("dealstage");

        // creation times in ascending order, so that ids grow with creation as in HubSpot
        let span = 3 * YEAR_MS;
        let mut created: Vec<i64> = (0..count)
            .map(|_| self.reference_ms - self.rng.random_range(DAY_MS..span))
            .collect();
        created.sort_unstable();

        let stamper = table.stamper();
        for (ordinal, created_ms) in created.into_iter().enumerate() {
            let id = table.allocate_id(self.rng.random_range(1..2_000));
            // a third of the records changed recently, the rest at some point after creation
            let age = self.reference_ms - created_ms;
            let updated_ms = if self.rng.random_bool(0.3) {
                self.reference_ms - self.rng.random_range(0..(30 * DAY_MS).min(age).max(1))
            } else {
                created_ms + self.rng.random_range(0..age.max(1))
            };
            let mut data = RecordData {
                props: Vec::with_capacity(plan.len() / 3),
                created_ms,
                updated_ms,
            };
            let ctx = ValueContext {
                owners: &self.owners,
                user_ids: &self.user_ids,
                archived_owners: &self.archived_owners,
                teams: &self.teams,
                reference_ms: self.reference_ms,
                span_ms: span,
                ordinal: salt * 1_000_000 + ordinal as u64,
            };
            for item in &plan {
                if !self.rng.random_bool(f64::from(item.probability)) {
                    continue;
                }
                let def = table.props.def(item.index);
                if let Some(v) = value(&mut self.rng, def, item.kind, &ctx) {
                    // verbatim: the empty strings of the plan must reach the payloads
                    data.set_verbatim(item.index, &v);
                }
            }
            if let (Some(pp), Some(sp)) = (pipeline_prop, stage_prop) {
                let pipeline = if self.rng.random_bool(0.8) {
                    &pipelines[0]
                } else {
                    &pipelines[1]
                };
                let stage = pick(&mut self.rng, &pipeline.stages);
                data.set(pp, Some(&pipeline.id));
                data.set(sp, Some(&stage.id));
            }
            if table.info.plural == "goal_targets" {
                self.goal_values(table, &mut data);
            }
            stamper.apply(id, &mut data);
            table.live.insert(id, Record::new(id, data));
        }
    }

    fn goal_values(&mut self, table: &ObjectTable, data: &mut RecordData) {
        let start = values::quarter_start(data.created_ms);
        let end = start + 90 * DAY_MS - 1;
        let set = |data: &mut RecordData, name: &str, v: String| {
            if let Some(i) = table.props.index_of(name) {
                data.set(i, Some(&v));
            }
        };
        set(data, "hs_start_datetime", fmt_ms(start));
        set(data, "hs_end_datetime", fmt_ms(end));
        set(
            data,
            "hs_target_amount",
            (self.rng.random_range(10..500) * 1000).to_string(),
        );
        set(
            data,
            "hs_goal_name",
            format!("Revenue Q{}", (start / (90 * DAY_MS)) % 4 + 1),
        );
    }

    fn associate(&mut self, tables: &[ObjectTable], assoc: &mut AssocStore) {
        let ids = |name: &str| -> (usize, Vec<u64>) {
            let i = tables
                .iter()
                .position(|t| t.info.plural == name)
                .unwrap_or(0);
            (i, tables[i].live.keys().copied().collect())
        };
        let (contacts, contact_ids) = ids("contacts");
        let (companies, company_ids) = ids("companies");
        let (deals, deal_ids) = ids("deals");
        let (line_items, line_item_ids) = ids("line_items");
        let (cars, car_ids) = ids("cars");
        if company_ids.is_empty() || contact_ids.is_empty() || deal_ids.is_empty() {
            return;
        }
        let rng = &mut self.rng;
        // one company with a large fan-out, so association paging has work to do
        let hub_company = company_ids[0];
        for &c in &contact_ids {
            if rng.random_bool(0.8) {
                assoc.associate(contacts, c, companies, *pick(rng, &company_ids), true);
            }
            if rng.random_bool(0.3) {
                assoc.associate(contacts, c, companies, hub_company, false);
            }
        }
        for &d in &deal_ids {
            if rng.random_bool(0.9) {
                assoc.associate(deals, d, companies, *pick(rng, &company_ids), true);
            }
            for _ in 0..rng.random_range(0..4) {
                assoc.associate(deals, d, contacts, *pick(rng, &contact_ids), false);
            }
        }
        for &l in &line_item_ids {
            // a line item belongs to exactly one deal
            assoc.associate(line_items, l, deals, *pick(rng, &deal_ids), false);
        }
        for name in ["meetings", "calls", "emails", "tasks"] {
            let (table, engagement_ids) = ids(name);
            for &e in &engagement_ids {
                for _ in 0..rng.random_range(1..3) {
                    assoc.associate(table, e, contacts, *pick(rng, &contact_ids), false);
                }
                if rng.random_bool(0.7) {
                    assoc.associate(table, e, companies, *pick(rng, &company_ids), false);
                }
                if rng.random_bool(0.5) {
                    assoc.associate(table, e, deals, *pick(rng, &deal_ids), false);
                }
            }
        }
        for &car in &car_ids {
            assoc.associate(cars, car, contacts, *pick(rng, &contact_ids), false);
            if rng.random_bool(0.3) {
                assoc.associate(cars, car, deals, *pick(rng, &deal_ids), false);
            }
        }
    }

    fn bulk_import(&mut self, table: &mut ObjectTable, count: usize) {
        // an import stamps every record with one millisecond (API.md §18.2)
        let at = self.reference_ms - 2 * DAY_MS + 123;
        let stamper = table.stamper();
        let first_name = table
            .props
            .index_of("firstname")
            .or_else(|| table.props.index_of("name"));
        let source = table.props.index_of("hs_object_source");
        for i in 0..count {
            let id = table.allocate_id(self.rng.random_range(1..20));
            let mut data = RecordData {
                props: Vec::new(),
                created_ms: at,
                updated_ms: at,
            };
            if let Some(p) = first_name {
                data.set(p, Some(&format!("Imported {i}")));
            }
            if let Some(p) = source {
                data.set(p, Some("IMPORT"));
            }
            stamper.apply(id, &mut data);
            table.live.insert(id, Record::new(id, data));
        }
    }

    fn merges(&mut self, data: &mut PortalData, per_table: usize) {
        for name in ["contacts", "companies"] {
            let Some(index) = data.table_index(name) else {
                continue;
            };
            for _ in 0..per_table {
                let ids: Vec<u64> = data.tables[index].live.keys().copied().collect();
                if ids.len() < 4 {
                    break;
                }
                let a = *pick(&mut self.rng, &ids);
                let b = *pick(&mut self.rng, &ids);
                if a == b {
                    continue;
                }
                let at = self.reference_ms - self.rng.random_range(DAY_MS..60 * DAY_MS);
                let _ = data.merge(index, a, b, true, at, Duration::ZERO);
            }
        }
    }

    fn archive(&mut self, data: &mut PortalData, per_table: usize) {
        for table in &mut data.tables {
            for _ in 0..per_table {
                let ids: Vec<u64> = table.live.keys().copied().collect();
                if ids.len() < 2 {
                    break;
                }
                let id = *pick(&mut self.rng, &ids);
                // inside HubSpot's 90-day recycle-bin window
                let at = self.reference_ms - self.rng.random_range(DAY_MS..80 * DAY_MS);
                let _ = table.archive(id, at);
            }
        }
    }
}

fn ascii(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::config::BulkImport;
    use chrono::TimeZone;

    fn spec(records: usize) -> PortalSpec {
        PortalSpec {
            seed: 7,
            hub_id: 12345678,
            records_per_table: records,
            options: GeneratorOptions {
                reference_time: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single(),
                ..GeneratorOptions::default()
            },
        }
    }

    /// Everything a portal holds, as text: records live and archived with every value,
    /// merge aliases, associations with their type ids, owners, pipelines and schemas.
    fn fingerprint(data: &PortalData) -> Vec<String> {
        let mut out = Vec::new();
        for (ti, t) in data.tables.iter().enumerate() {
            for r in t.live.values().chain(t.archived.values()) {
                out.push(format!(
                    "{} {} {:?} {} {} {:?}",
                    t.info.plural,
                    r.id,
                    r.archived_ms,
                    r.data.created_ms,
                    r.data.updated_ms,
                    r.data.props
                ));
            }
            let mut aliases: Vec<_> = t.aliases.iter().collect();
            aliases.sort();
            out.push(format!("{} aliases {aliases:?}", t.info.plural));
            for to in 0..data.tables.len() {
                for (from_id, link) in data.assoc.all(ti, to) {
                    out.push(format!("{ti}->{to} {from_id} {link:?}"));
                }
            }
        }
        out.extend(data.owners.iter().map(|o| o.to_json().to_string()));
        out.extend(data.pipelines.iter().map(|p| p.to_json().to_string()));
        out.extend(data.schemas.iter().map(|s| format!("{s:?}")));
        out
    }

    #[test]
    fn generation_is_deterministic_for_a_seed() {
        let a = generate(&spec(30));
        let b = generate(&spec(30));
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let mut other = spec(30);
        other.seed = 8;
        assert_ne!(fingerprint(&a), fingerprint(&generate(&other)));
    }

    #[test]
    fn ids_are_large_and_mirror_hs_object_id_and_timestamps() {
        let data = generate(&spec(50));
        for table in &data.tables {
            for record in table.live.values() {
                assert!(
                    record.id > u64::from(u32::MAX),
                    "{} id {}",
                    table.info.plural,
                    record.id
                );
                assert_eq!(
                    record.data.get(table.id_prop),
                    Some(record.id.to_string().as_str())
                );
                assert_eq!(
                    record.data.get(table.modified_prop),
                    Some(fmt_ms(record.data.updated_ms).as_str())
                );
                assert_eq!(
                    record.data.get(table.created_prop),
                    Some(fmt_ms(record.data.created_ms).as_str())
                );
                assert!(record.data.created_ms <= record.data.updated_ms);
            }
        }
    }

    #[test]
    fn values_have_hubspot_shapes() {
        let data = generate(&spec(200));
        let deals = data.table("deals").unwrap();
        let currency = deals.props.index_of("deal_currency_code").unwrap();
        let stage = deals.props.index_of("dealstage").unwrap();
        let with_currency = deals
            .live
            .values()
            .filter(|r| r.data.get(currency).is_some())
            .count();
        assert!(with_currency > 150);
        assert!(deals.live.values().all(|r| r.data.get(stage).is_some()));
        let contacts = data.table("contacts").unwrap();
        let all_values: Vec<&str> = contacts
            .live
            .values()
            .flat_map(|r| r.data.props.iter().map(|(_, v)| &**v))
            .collect();
        assert!(
            all_values.iter().any(|v| v.contains(';')),
            "multi-select values are ;-joined"
        );
        let merged = contacts.props.index_of("hs_merged_object_ids").unwrap();
        assert!(contacts.live.values().any(|r| r.data.get(merged).is_some()));
        assert!(!contacts.archived.is_empty());
        // objects with createdate carry hs_createdate with the same value
        let hs_created = deals.props.index_of("hs_createdate").unwrap();
        assert!(
            deals
                .live
                .values()
                .all(|r| r.data.get(hs_created) == r.data.get(deals.created_prop))
        );
        // *_user_id properties hold owners' user ids
        let user_ids: Vec<String> = data.owners.iter().map(|o| o.user_id.to_string()).collect();
        let created_by = deals.props.index_of("hs_created_by_user_id").unwrap();
        let values: Vec<&str> = deals
            .live
            .values()
            .filter_map(|r| r.data.get(created_by))
            .collect();
        assert!(!values.is_empty() && values.iter().all(|v| user_ids.iter().any(|u| u == v)));
        assert!(data.owners.iter().any(|o| o.archived));
    }

    #[test]
    fn bulk_import_shares_one_millisecond() {
        let mut s = spec(10);
        s.options.bulk_import = Some(BulkImport {
            table: "contacts".into(),
            count: 500,
        });
        let data = generate(&s);
        let contacts = data.table("contacts").unwrap();
        let mut counts = std::collections::HashMap::new();
        for r in contacts.live.values() {
            *counts.entry(r.data.updated_ms).or_insert(0) += 1;
        }
        assert!(counts.values().any(|c| *c >= 500));
    }

    #[test]
    fn every_property_type_gets_plausible_values() {
        use crate::store::PropType;
        let data = generate(&spec(300));
        let owners: Vec<String> = data.owners.iter().map(|o| o.id.to_string()).collect();
        let users: Vec<String> = data.owners.iter().map(|o| o.user_id.to_string()).collect();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for table in &data.tables {
            for record in table.live.values() {
                for (index, value) in &record.data.props {
                    let def = table.props.def(*index);
                    let what = format!("{} {} {value:?}", table.info.plural, def.name);
                    *seen.entry(def.ptype.as_str()).or_default() += 1;
                    if value.is_empty() {
                        // real portals' "" beside null, on strings and booleans only
                        assert!(
                            matches!(def.ptype, PropType::String | PropType::Bool),
                            "{what}"
                        );
                        continue;
                    }
                    match def.ptype {
                        PropType::Datetime => {
                            assert!(crate::store::parse_datetime_ms(value).is_some(), "{what}")
                        }
                        PropType::Date => assert!(
                            chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok()
                                || value.parse::<i64>().is_ok_and(|ms| ms % DAY_MS == 0),
                            "{what}"
                        ),
                        PropType::Bool => assert!(["true", "false"].contains(&&**value), "{what}"),
                        PropType::Enumeration
                            if def.referenced_object_type.as_deref() == Some("OWNER")
                                || def.name == "hs_all_owner_ids" =>
                        {
                            assert!(
                                value.split(';').all(|o| owners.iter().any(|x| x == o)),
                                "{what}"
                            )
                        }
                        PropType::Enumeration
                            if def.name.ends_with("user_id")
                                || def.name == "hs_user_ids_of_all_owners" =>
                        {
                            assert!(
                                value.split(';').all(|u| users.iter().any(|x| x == u)),
                                "{what}"
                            )
                        }
                        PropType::Enumeration if def.name.ends_with("currency_code") => {
                            assert!(values::CURRENCIES.contains(&&**value), "{what}")
                        }
                        PropType::Enumeration
                            if !def.options.is_empty() && !def.external_options =>
                        {
                            assert!(
                                value.split(';').all(|v| def.options.iter().any(|o| o == v)),
                                "{what}"
                            )
                        }
                        _ => {}
                    }
                }
            }
        }
        for ptype in [
            "string",
            "number",
            "date",
            "datetime",
            "enumeration",
            "bool",
            "phone_number",
        ] {
            assert!(
                seen.get(ptype).is_some_and(|n| *n > 0),
                "no {ptype} values: {seen:?}"
            );
        }
        let deals = data.table("deals").unwrap();
        let all_owner_users = deals.props.index_of("hs_user_ids_of_all_owners").unwrap();
        assert!(
            deals
                .live
                .values()
                .any(|r| r.data.get(all_owner_users).is_some()),
            "hs_user_ids_of_all_owners holds user ids"
        );
        // money carries its currency: deals' amount with deal_currency_code, line items'
        // price with hs_line_item_currency_code, companies' revenue with its code
        for (table, money, code) in [
            ("deals", "amount", "deal_currency_code"),
            ("line_items", "price", "hs_line_item_currency_code"),
            (
                "companies",
                "annualrevenue",
                "hs_annual_revenue_currency_code",
            ),
        ] {
            let t = data.table(table).unwrap();
            let (m, c) = (
                t.props.index_of(money).unwrap(),
                t.props.index_of(code).unwrap(),
            );
            let priced: Vec<_> = t
                .live
                .values()
                .filter(|r| r.data.get(m).is_some())
                .collect();
            assert!(!priced.is_empty(), "{table}.{money}");
            let coded = priced
                .iter()
                .filter(|r| {
                    r.data
                        .get(c)
                        .is_some_and(|v| values::CURRENCIES.contains(&v))
                })
                .count();
            assert!(
                coded * 10 >= priced.len() * 9,
                "{table}: {coded} of {} priced records have a currency",
                priced.len()
            );
        }
    }

    #[test]
    fn association_type_ids_follow_hubspots_table_both_ways() {
        let data = generate(&spec(100));
        let index = |name: &str| data.table_index(name).unwrap();
        // API.md §11.4: (from, to, unlabeled, primary)
        for (from, to, unlabeled, primary) in [
            ("contacts", "companies", 279, Some(1)),
            ("companies", "contacts", 280, Some(2)),
            ("deals", "contacts", 3, None),
            ("contacts", "deals", 4, None),
            ("deals", "companies", 341, Some(5)),
            ("companies", "deals", 342, Some(6)),
            ("deals", "line_items", 19, None),
            ("line_items", "deals", 20, None),
            ("meetings", "companies", 188, None),
            ("companies", "meetings", 187, None),
            ("meetings", "deals", 212, None),
            ("deals", "meetings", 211, None),
            ("meetings", "contacts", 200, None),
            ("contacts", "meetings", 199, None),
            ("calls", "contacts", 194, None),
            ("emails", "deals", 210, None),
            ("tasks", "companies", 192, None),
        ] {
            let (f, t) = (index(from), index(to));
            let links: Vec<_> = data.assoc.all(f, t).collect();
            assert!(!links.is_empty(), "no {from} -> {to} associations");
            let mut saw_primary = false;
            for (from_id, link) in links {
                assert!(link.type_ids.contains(&unlabeled), "{from}->{to} {link:?}");
                saw_primary |= primary.is_some_and(|p| link.type_ids.contains(&p));
                for type_id in &link.type_ids {
                    assert!(
                        data.assoc.def(f, t, *type_id).is_some(),
                        "{from}->{to} {type_id}"
                    );
                }
                // stored both ways, with the reverse types
                let back = data.assoc.links(t, f, link.to_id);
                assert!(
                    back.iter()
                        .any(|l| l.to_id == from_id && l.type_ids.len() == link.type_ids.len()),
                    "{to} {} has no way back to {from} {from_id}",
                    link.to_id
                );
            }
            if to == "companies" && (from == "contacts" || from == "deals") {
                assert!(saw_primary, "{from}->{to} has Primary associations");
            }
        }
        // a line item belongs to exactly one deal
        let li = index("line_items");
        let deals = index("deals");
        for id in data.tables[li].live.keys() {
            assert_eq!(data.assoc.links(li, deals, *id).len(), 1);
        }
    }
}
