//! Value parsing: HubSpot sends every property value as a string or null; this turns it
//! into typed JSON by the field's type, tolerantly.
//!
//! Canonical forms (what the typed views cast):
//! - empty string → `null` (HubSpot sends `""` and `null` alike for a cleared value);
//! - `Bool` → `true`/`false` from `"true"`/`"false"` in any case;
//! - `Amount`/`Number` → a JSON number: an integer when the text is integral and fits
//!   `i64` (or is a float with an integral value within ±2^53), else an `f64`. Precision
//!   beyond `f64` (HubSpot writes `0.2000000000000000111…`) is not kept;
//! - `Date` on a HubSpot `date` → `"YYYY-MM-DD"`; on a `datetime` → RFC 3339 UTC with
//!   milliseconds (`"2024-09-11T13:27:39.356Z"`). Accepted inputs: ISO 8601 with 0–9
//!   fraction digits and `Z`, an offset or no zone (read as UTC), a bare date, epoch
//!   milliseconds, and float millisecond strings (`"1672531200000.0"`); a date or time
//!   outside years 1–9999 does not parse (PostgreSQL cannot cast year 0);
//! - multi-valued fields → an array of the `;`-separated parts, empty parts dropped;
//! - `User` → the owner id as a string of digits (an array if multi).
//!
//! A value that does not parse as its type keeps its raw text as a JSON string and is
//! reported as unparsed; it is never dropped and never an error.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Number, Value};

use crate::field::{Field, FieldType};

/// Largest integer an `f64` holds exactly.
const F64_EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// One parsed value, and whether it fell back to raw text.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseOutcome {
    pub value: Value,
    /// The text did not parse as the field's type; `value` holds it verbatim.
    pub unparsed: bool,
}

impl ParseOutcome {
    fn parsed(value: Value) -> Self {
        Self {
            value,
            unparsed: false,
        }
    }

    fn raw(text: &str) -> Self {
        Self {
            value: Value::String(text.to_owned()),
            unparsed: true,
        }
    }
}

/// Parses one raw value (`None` for HubSpot's `null`) by the field's type.
pub fn parse_value(field: &Field, raw: Option<&str>) -> ParseOutcome {
    let Some(text) = raw else {
        return ParseOutcome::parsed(Value::Null);
    };
    if text.is_empty() {
        return ParseOutcome::parsed(Value::Null);
    }
    if field.multi {
        return parse_list(field, text);
    }
    let parsed = match field.field_type {
        FieldType::Amount | FieldType::Number => parse_number(text),
        FieldType::Bool => parse_bool(text),
        FieldType::Date if field.is_date_only() => parse_date(text),
        FieldType::Date => parse_datetime(text),
        FieldType::User => parse_owner_id(text).map(Value::String),
        FieldType::String | FieldType::Picklist => Some(Value::String(text.to_owned())),
    };
    match parsed {
        Some(value) => ParseOutcome::parsed(value),
        None => ParseOutcome::raw(text),
    }
}

/// The typed values of one record, with the raw text of values that did not parse
/// kept apart.
///
/// Keeping raw text out of `values` is what lets a typed view cast without failing: in
/// `values` a date field holds only a valid `YYYY-MM-DD` (or null), so
/// `(values->>'closedate')::date` cannot raise, whereas an unparsed `"2024-02-30"` in
/// the same place would break every query on the view. Nothing is dropped: the raw text
/// is in `unparsed`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedRecord {
    /// Property name → typed value; `null` where the value did not parse.
    pub values: Map<String, Value>,
    /// Property name → the value as HubSpot sent it, for values that did not parse
    /// (counted by the worker, never fatal).
    pub unparsed: Map<String, Value>,
}

/// Parses every property of a record, as HubSpot sends them: text or null. It reads
/// the record where it lies, so a page of wide records is not copied first. Properties
/// without a known field are kept as sent (HubSpot may add a property between metadata
/// refresh and fetch), with `""` as null.
pub fn parse_record<'a, 'p>(
    field_of: impl Fn(&str) -> Option<&'a Field>,
    properties: impl IntoIterator<Item = (&'p str, Option<&'p str>)>,
) -> ParsedRecord {
    let mut record = ParsedRecord::default();
    for (name, text) in properties {
        let value = match field_of(name) {
            Some(field) => {
                let outcome = parse_value(field, text);
                if outcome.unparsed {
                    record.unparsed.insert(name.to_owned(), outcome.value);
                    Value::Null
                } else {
                    outcome.value
                }
            }
            None => match text {
                None | Some("") => Value::Null,
                Some(text) => Value::String(text.to_owned()),
            },
        };
        record.values.insert(name.to_owned(), value);
    }
    record
}

fn parse_list(field: &Field, text: &str) -> ParseOutcome {
    let parts: Vec<&str> = text.split(';').filter(|part| !part.is_empty()).collect();
    let mut values = Vec::with_capacity(parts.len());
    for part in parts {
        let value = match field.field_type {
            FieldType::User => match parse_owner_id(part) {
                Some(id) => id,
                None => return ParseOutcome::raw(text),
            },
            _ => part.to_owned(),
        };
        values.push(Value::String(value));
    }
    ParseOutcome::parsed(Value::Array(values))
}

/// Owner ids are decimal digit strings; surrounding spaces are tolerated.
fn parse_owner_id(text: &str) -> Option<String> {
    let id = text.trim();
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_owned())
}

fn parse_bool(text: &str) -> Option<Value> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("true") {
        Some(Value::Bool(true))
    } else if text.eq_ignore_ascii_case("false") {
        Some(Value::Bool(false))
    } else {
        None
    }
}

/// A JSON number from decimal text; `None` for junk ("N/A", "1,000", "3;4"), NaN and
/// infinities (`f64::from_str` would accept "inf" and "NaN").
fn parse_number(text: &str) -> Option<Value> {
    let text = text.trim();
    if text.is_empty()
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    if let Ok(integer) = text.parse::<i64>() {
        return Some(Value::Number(integer.into()));
    }
    let float: f64 = text.parse().ok()?;
    if !float.is_finite() {
        return None;
    }
    if float.fract() == 0.0 && float.abs() <= F64_EXACT_INT {
        // In range and integral, so the conversion is exact.
        return Some(Value::Number((float as i64).into()));
    }
    Number::from_f64(float).map(Value::Number)
}

/// A point in time from any of the accepted inputs, truncated to milliseconds.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let instant = if let Some(ms) = parse_epoch_millis(text) {
        Utc.timestamp_millis_opt(ms).single()?
    } else if let Ok(with_zone) = DateTime::parse_from_rfc3339(text) {
        with_zone.with_timezone(&Utc)
    } else if let Some(naive) = parse_naive_datetime(text) {
        naive.and_utc()
    } else if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        date.and_hms_opt(0, 0, 0)?.and_utc()
    } else {
        return None;
    };
    Utc.timestamp_millis_opt(instant.timestamp_millis())
        .single()
}

/// ISO 8601 without a zone (`2024-01-01T10:00:00.5`, also with a space): UTC.
fn parse_naive_datetime(text: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
}

/// Epoch milliseconds, integral (`"1672531200000"`) or float (`"1672531200000.0"`).
fn parse_epoch_millis(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    let float: f64 = text.parse().ok()?;
    (float.is_finite() && float.abs() < F64_EXACT_INT).then(|| float.round() as i64)
}

fn parse_datetime(text: &str) -> Option<Value> {
    parse_timestamp(text)
        .filter(|instant| has_castable_year(instant.date_naive()))
        .map(|instant| Value::String(format_timestamp(instant)))
}

/// A HubSpot `date` is midnight UTC; a timestamp that is not midnight still names its
/// UTC day (tolerant), since that is the day HubSpot shows.
fn parse_date(text: &str) -> Option<Value> {
    let text = text.trim();
    let date = match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(date) => date,
        Err(_) => parse_timestamp(text)?.date_naive(),
    };
    has_castable_year(date).then(|| Value::String(date.format("%Y-%m-%d").to_string()))
}

/// Years 1 to 9999: the canonical forms hold a four-digit year, and PostgreSQL has no
/// year 0 (`'0000-01-01'::date` raises), so a date outside them would break every query
/// on the typed view instead of staying in `unparsed` as its raw text.
fn has_castable_year(date: NaiveDate) -> bool {
    (1..=9999).contains(&date.year())
}

/// RFC 3339, UTC, milliseconds, `Z`: the one timestamp form hubsync writes.
pub fn format_timestamp(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests;
