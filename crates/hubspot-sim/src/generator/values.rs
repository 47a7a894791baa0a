//! Realistic values for every HubSpot property type, chosen once per property as a plan so
//! that generating 100k records is a loop over small integers.

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::store::{PropType, PropertyDef, fmt_ms};

pub const FIRST_NAMES: &[&str] = &[
    "Anna", "Ben", "Chloé", "David", "Eva", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kemal",
    "Lena", "Marco", "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Sven", "Tomás", "Uma",
    "Viktor", "Wei", "Xenia", "Yusuf", "Zoë",
];
pub const LAST_NAMES: &[&str] = &[
    "Andersen",
    "Bauer",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Hansen",
    "Ivanova",
    "Jansen",
    "Kowalski",
    "Larsen",
    "Müller",
    "Nakamura",
    "O'Brien",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ulrich",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zimmermann",
];
const COMPANY_STEMS: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Wonka",
    "Cyberdyne",
    "Aperture",
    "Gringotts",
    "Monarch",
    "Nakatomi",
    "Oscorp",
    "Pied Piper",
    "Massive Dynamic",
    "Blue Sun",
];
const COMPANY_SUFFIXES: &[&str] = &["GmbH", "Inc.", "Ltd", "SA", "BV", "AG", "LLC", "Oy"];
const CITIES: &[(&str, &str, &str)] = &[
    ("Berlin", "Berlin", "Germany"),
    ("Paris", "Île-de-France", "France"),
    ("Boston", "MA", "United States"),
    ("Dublin", "Leinster", "Ireland"),
    ("Amsterdam", "North Holland", "Netherlands"),
    ("Austin", "TX", "United States"),
    ("Lyon", "Auvergne-Rhône-Alpes", "France"),
    ("Toronto", "ON", "Canada"),
];
const WORDS: &[&str] = &[
    "renewal",
    "pilot",
    "expansion",
    "onboarding",
    "follow-up",
    "quarterly",
    "review",
    "pricing",
    "contract",
    "demo",
    "integration",
    "support",
    "migration",
    "licence",
    "workshop",
    "upgrade",
];
pub const PRODUCTS: &[&str] = &[
    "Starter plan",
    "Professional plan",
    "Enterprise plan",
    "Onboarding package",
    "Support hours",
    "API add-on",
    "Training day",
    "Hardware kit",
];
pub const CURRENCIES: &[&str] = &["EUR", "USD", "GBP", "CHF"];

/// How one property gets its values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueKind {
    FirstName,
    LastName,
    Email,
    CompanyName,
    ProductName,
    DealName,
    Domain,
    Website,
    Phone,
    City,
    State,
    Country,
    Zip,
    Address,
    JobTitle,
    Sentence,
    Title,
    Sku,
    Words,
    Money,
    Probability,
    Quantity,
    Number {
        junk: bool,
    },
    Date,
    Datetime,
    Bool,
    Choice,
    MultiChoice,
    BoolChoice,
    Owner,
    Owners,
    /// A user id (owners' `userId`), for `hs_created_by_user_id` and the like.
    UserId,
    /// `;`-joined user ids (`hs_user_ids_of_all_owners`).
    UserIds,
    Team,
    Currency,
    /// Filled per record by the generator (pipelines and stages).
    Pipeline,
    Stage,
}

/// The values plan of a table: which property, how often, how.
#[derive(Debug, Clone)]
pub struct PlanItem {
    pub index: u16,
    pub probability: f32,
    pub kind: ValueKind,
}

/// Decides how a property is filled; None leaves it empty on every record.
pub fn plan_property(def: &PropertyDef, important: bool) -> Option<(f32, ValueKind)> {
    let name = def.name.as_str();
    let base: f32 = if important {
        0.95
    } else if def.hidden {
        0.05
    } else if def.calculated {
        0.3
    } else {
        0.25
    };
    let owner_ref =
        def.referenced_object_type.as_deref() == Some("OWNER") || name == "hubspot_owner_id";
    if name.ends_with("currency_code") {
        // nearly every record carries the code of its money (deals, line items: an
        // enumeration; companies' hs_annual_revenue_currency_code: a calculated string)
        return Some((0.97, ValueKind::Currency));
    }
    let kind = match def.ptype {
        PropType::Enumeration => {
            if owner_ref && !def.is_multi() {
                return Some((0.85, ValueKind::Owner));
            }
            if name == "hs_user_ids_of_all_owners" {
                // user ids, not owner ids (API.md §8)
                return Some((0.5, ValueKind::UserIds));
            }
            if owner_ref || name == "hs_all_owner_ids" || name.contains("owner_ids") {
                return Some((0.5, ValueKind::Owners));
            }
            if name == "hubspot_team_id"
                || name == "hs_all_team_ids"
                || name == "hs_assignee_team_id"
            {
                return Some((0.4, ValueKind::Team));
            }
            if name == "pipeline" {
                return Some((1.0, ValueKind::Pipeline));
            }
            if name == "dealstage" {
                return Some((1.0, ValueKind::Stage));
            }
            if def.options.is_empty() {
                return None;
            }
            match def.field_type.as_str() {
                "checkbox" => ValueKind::MultiChoice,
                "booleancheckbox" => ValueKind::BoolChoice,
                _ => ValueKind::Choice,
            }
        }
        PropType::Bool => ValueKind::Bool,
        // user ids, not owner ids (API.md §8)
        PropType::Number if name.ends_with("_user_id") && !name.contains("external") => {
            ValueKind::UserId
        }
        PropType::Number => {
            let money = def.json.get("showCurrencySymbol").and_then(|v| v.as_bool()) == Some(true)
                || name.contains("amount")
                || name == "price";
            if money {
                ValueKind::Money
            } else if name.contains("probability") {
                ValueKind::Probability
            } else if name == "quantity" || name.starts_with("num_") || name == "year" {
                ValueKind::Quantity
            } else {
                // real portals keep junk such as "N/A" in number fields (API.md §18.20)
                ValueKind::Number {
                    junk: !def.calculated,
                }
            }
        }
        PropType::Date => ValueKind::Date,
        PropType::Datetime => ValueKind::Datetime,
        PropType::PhoneNumber => ValueKind::Phone,
        PropType::Other => return None,
        PropType::String => string_kind(name, def.field_type.as_str()),
    };
    Some((base, kind))
}

fn string_kind(name: &str, field_type: &str) -> ValueKind {
    match name {
        "firstname" => ValueKind::FirstName,
        "lastname" => ValueKind::LastName,
        "email" | "work_email" => ValueKind::Email,
        "company" => ValueKind::CompanyName,
        "dealname" => ValueKind::DealName,
        "domain" => ValueKind::Domain,
        "website" => ValueKind::Website,
        "phone" | "mobilephone" | "fax" => ValueKind::Phone,
        "city" => ValueKind::City,
        "state" => ValueKind::State,
        "country" => ValueKind::Country,
        "zip" => ValueKind::Zip,
        "address" => ValueKind::Address,
        "jobtitle" => ValueKind::JobTitle,
        "hs_sku" | "vin" => ValueKind::Sku,
        "model" => ValueKind::ProductName,
        _ if name.ends_with("_title") || name.ends_with("_subject") || name == "hs_goal_name" => {
            ValueKind::Title
        }
        _ if field_type == "textarea"
            || field_type == "html"
            || name.contains("description")
            || name.contains("body") =>
        {
            ValueKind::Sentence
        }
        _ => ValueKind::Words,
    }
}

/// Context a value may draw on.
pub struct ValueContext<'a> {
    pub owners: &'a [u64],
    pub user_ids: &'a [u64],
    pub archived_owners: &'a [u64],
    pub teams: &'a [u64],
    pub reference_ms: i64,
    pub span_ms: i64,
    pub ordinal: u64,
}

pub fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

pub fn pick_str(rng: &mut ChaCha8Rng, items: &[&'static str]) -> &'static str {
    items[rng.random_range(0..items.len())]
}

pub fn company_name(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{} {}",
        pick(rng, COMPANY_STEMS),
        pick(rng, COMPANY_SUFFIXES)
    )
}

fn slug(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

pub fn midnight_date(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms) {
        chrono::LocalResult::Single(t) => t.date_naive().format("%Y-%m-%d").to_string(),
        _ => "2024-01-01".into(),
    }
}

fn midnight_ms(ms: i64) -> i64 {
    let day = Utc
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or(NaiveDate::MIN);
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .timestamp_millis()
}

/// One value of a property; None leaves it empty.
pub fn value(
    rng: &mut ChaCha8Rng,
    def: &PropertyDef,
    kind: ValueKind,
    ctx: &ValueContext<'_>,
) -> Option<String> {
    let v = match kind {
        ValueKind::FirstName => pick(rng, FIRST_NAMES).to_string(),
        ValueKind::LastName => pick(rng, LAST_NAMES).to_string(),
        ValueKind::Email => format!(
            "{}.{}{}@{}.example.com",
            slug(pick_str(rng, FIRST_NAMES)),
            slug(pick_str(rng, LAST_NAMES)),
            ctx.ordinal,
            slug(pick_str(rng, COMPANY_STEMS))
        ),
        ValueKind::CompanyName => company_name(rng),
        ValueKind::ProductName => pick(rng, PRODUCTS).to_string(),
        ValueKind::DealName => format!("{} – {}", company_name(rng), pick(rng, PRODUCTS)),
        ValueKind::Domain => format!(
            "{}{}.example.com",
            slug(pick_str(rng, COMPANY_STEMS)),
            ctx.ordinal
        ),
        ValueKind::Website => format!(
            "https://www.{}.example.com",
            slug(pick_str(rng, COMPANY_STEMS))
        ),
        ValueKind::Phone => format!(
            "+1 555 {:04} {:03}",
            rng.random_range(0..10_000),
            rng.random_range(0..1000)
        ),
        ValueKind::City => pick(rng, CITIES).0.to_string(),
        ValueKind::State => pick(rng, CITIES).1.to_string(),
        ValueKind::Country => pick(rng, CITIES).2.to_string(),
        ValueKind::Zip => format!("{:05}", rng.random_range(1000..99_999)),
        ValueKind::Address => format!(
            "{} {} Street",
            rng.random_range(1..300),
            pick(rng, LAST_NAMES)
        ),
        ValueKind::JobTitle => pick(
            rng,
            &[
                "CEO",
                "CTO",
                "Head of Sales",
                "Buyer",
                "Engineer",
                "Office manager",
            ],
        )
        .to_string(),
        ValueKind::Sentence => format!(
            "{} {} about the {} {}.",
            pick(rng, &["Discussed", "Agreed on", "Sent notes on", "Asked"]),
            pick(rng, WORDS),
            pick(rng, WORDS),
            pick(rng, WORDS)
        ),
        ValueKind::Title => format!("{} {}", capitalise(pick_str(rng, WORDS)), pick(rng, WORDS)),
        ValueKind::Sku => format!("SKU-{:06}", rng.random_range(0..1_000_000)),
        ValueKind::Words => {
            if rng.random_bool(0.1) {
                // empty strings exist beside nulls on real portals
                String::new()
            } else {
                format!("{} {}", pick(rng, WORDS), rng.random_range(1..100))
            }
        }
        ValueKind::Money => {
            let cents: u64 = rng.random_range(10_000..50_000_000);
            if cents.is_multiple_of(3) {
                (cents / 100).to_string()
            } else {
                format!("{}.{:02}", cents / 100, cents % 100)
            }
        }
        ValueKind::Probability => format!("{:.1}", rng.random_range(0..=10) as f64 / 10.0),
        ValueKind::Quantity => {
            if def.name == "year" {
                rng.random_range(1995..2027).to_string()
            } else {
                rng.random_range(1..25).to_string()
            }
        }
        ValueKind::Number { junk } => {
            if junk && rng.random_bool(0.01) {
                pick(rng, &["N/A", "unknown", "3092727991;3881228353"]).to_string()
            } else if rng.random_bool(0.3) {
                format!("{:.2}", rng.random_range(0.0..1000.0))
            } else {
                rng.random_range(0..1000).to_string()
            }
        }
        ValueKind::Date => {
            let ms = ctx.reference_ms - rng.random_range(-ctx.span_ms / 2..ctx.span_ms);
            if rng.random_bool(0.02) {
                // date values may surface as epoch-ms midnight strings (API.md §15)
                midnight_ms(ms).to_string()
            } else {
                midnight_date(ms)
            }
        }
        ValueKind::Datetime => {
            let ms = ctx.reference_ms - rng.random_range(0..ctx.span_ms);
            if rng.random_bool(0.01) {
                ms.to_string()
            } else {
                fmt_ms(ms)
            }
        }
        ValueKind::Bool => {
            if rng.random_bool(0.03) {
                String::new()
            } else {
                rng.random_bool(0.5).to_string()
            }
        }
        ValueKind::Choice => pick(rng, &def.options).clone(),
        ValueKind::MultiChoice => {
            let n = rng.random_range(1..=3.min(def.options.len()));
            let mut chosen: Vec<&str> = Vec::with_capacity(n);
            for _ in 0..n {
                let o = pick(rng, &def.options).as_str();
                if !chosen.contains(&o) {
                    chosen.push(o);
                }
            }
            chosen.join(";")
        }
        ValueKind::BoolChoice => rng.random_bool(0.5).to_string(),
        ValueKind::Owner => owner(rng, ctx)?.to_string(),
        ValueKind::Owners => {
            let n = rng.random_range(1..=3);
            let mut ids: Vec<String> = Vec::new();
            for _ in 0..n {
                if let Some(o) = owner(rng, ctx) {
                    let s = o.to_string();
                    if !ids.contains(&s) {
                        ids.push(s);
                    }
                }
            }
            ids.join(";")
        }
        ValueKind::Team => pick(rng, ctx.teams).to_string(),
        ValueKind::UserId => {
            if ctx.user_ids.is_empty() {
                return None;
            }
            pick(rng, ctx.user_ids).to_string()
        }
        ValueKind::UserIds => {
            if ctx.user_ids.is_empty() {
                return None;
            }
            let mut ids: Vec<String> = Vec::new();
            for _ in 0..rng.random_range(1..=3) {
                let id = pick(rng, ctx.user_ids).to_string();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            ids.join(";")
        }
        ValueKind::Currency => pick(rng, CURRENCIES).to_string(),
        ValueKind::Pipeline | ValueKind::Stage => return None,
    };
    Some(v)
}

fn owner(rng: &mut ChaCha8Rng, ctx: &ValueContext<'_>) -> Option<u64> {
    // records keep pointing at owners who were deactivated since (API.md §10)
    if !ctx.archived_owners.is_empty() && rng.random_bool(0.08) {
        return Some(*pick(rng, ctx.archived_owners));
    }
    if ctx.owners.is_empty() {
        None
    } else {
        Some(*pick(rng, ctx.owners))
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Start of the quarter containing `ms`, for goal targets.
pub fn quarter_start(ms: i64) -> i64 {
    let day = Utc
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or(NaiveDate::MIN);
    let month = (day.month0() / 3) * 3 + 1;
    NaiveDate::from_ymd_opt(day.year(), month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| Utc.from_utc_datetime(&d).timestamp_millis())
        .unwrap_or(ms)
}
