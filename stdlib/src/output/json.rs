//! The `-f json` output format: one `{"type": T, "data": D}` object per line,
//! with bpftrace 0.17's spacing (`": "` and `", "` between members, none
//! inside tuple arrays).

use super::prepare::{number_of, prepare, Data};
use super::text::{key_text, value_text};
use super::RawMap;
use crate::buckets::{hist_range, lhist_range, BucketRange};
use crate::symbols::Resolver;
use crate::types::Type;
use crate::value::{decode, Value};

/// `{"type": "<kind>", "data": <data>}` and a newline; `data` is already JSON.
pub fn event_json(kind: &str, data: &str) -> String {
    format!("{{\"type\": \"{kind}\", \"data\": {data}}}\n")
}

/// A printf event.
pub fn printf_json(text: &str) -> String {
    event_json("printf", &json_string(text))
}

/// A `time()` event.
pub fn time_json(text: &str) -> String {
    event_json("time", &json_string(text))
}

/// `print(expr)`: the value as JSON (the `data` of a `value` event).
pub fn print_value_json(ty: &Type, bytes: &[u8], resolver: &dyn Resolver) -> String {
    value_json(&decode(ty, bytes), resolver)
}

/// `print(expr)` as a whole event line: `{"type": "value", "data": …}`.
pub fn value_event_json(ty: &Type, bytes: &[u8], resolver: &dyn Resolver) -> String {
    event_json("value", &print_value_json(ty, bytes, resolver))
}

/// A string literal, escaped like 0.17: `\" \\ \n \r \t`, other control bytes
/// as `\u00XX`. Non-ASCII text is passed through as UTF-8 (0.17 mangled it).
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value as JSON: numbers bare, strings and symbols quoted, tuples as arrays
/// without spaces, stats as an object.
pub fn value_json(value: &Value, resolver: &dyn Resolver) -> String {
    match value {
        Value::None => "null".to_string(),
        Value::Str(_)
        | Value::Ksym(_)
        | Value::Usym(..)
        | Value::Probe(_)
        | Value::Stack(_)
        | Value::KsymOff(_) => json_string(&value_text(value, resolver)),
        Value::Tuple(items) => {
            let items: Vec<String> = items.iter().map(|v| value_json(v, resolver)).collect();
            format!("[{}]", items.join(","))
        }
        Value::Stats { total, count } => {
            let average = Value::average(*total, *count);
            format!("{{\"count\": {count}, \"average\": {average}, \"total\": {total}}}")
        }
        other => number_of(other).map(|n| n.to_string()).unwrap_or_default(),
    }
}

/// The JSON event type a map prints as.
fn map_kind(ty: &Type) -> &'static str {
    match ty {
        Type::Hist | Type::Lhist { .. } => "hist",
        Type::Avg | Type::Stats => "stats",
        _ => "map",
    }
}

/// A whole map, or nothing at all for an empty map.
pub fn print_map_json(map: &RawMap, top: u64, div: u64, resolver: &dyn Resolver) -> String {
    let entries = prepare(map, top);
    if entries.is_empty() {
        return String::new();
    }
    let values: Vec<(Value, String)> = entries
        .into_iter()
        .map(|e| {
            let data = match &e.data {
                Data::Scalar(v) => scalar_json(v, div, resolver),
                Data::Buckets(b) => buckets_json(b, &map.value_type, div),
            };
            (e.key, data)
        })
        .collect();
    let data = match map.key_type {
        Type::None => values
            .into_iter()
            .map(|(_, v)| v)
            .next()
            .unwrap_or_default(),
        _ => {
            let members: Vec<String> = values
                .iter()
                .map(|(k, v)| format!("{}: {v}", json_string(&key_text(k, ",", resolver))))
                .collect();
            format!("{{{}}}", members.join(", "))
        }
    };
    let body = format!("{{{}: {data}}}", json_string(&map.name));
    event_json(map_kind(&map.value_type), &body)
}

fn scalar_json(value: &Value, div: u64, resolver: &dyn Resolver) -> String {
    match (value, number_of(value)) {
        (Value::Stats { .. }, _) | (_, None) => value_json(value, resolver),
        (_, Some(n)) => n.divided(div).to_string(),
    }
}

/// `[{"min": 0, "max": 0, "count": 1}, …]` from the first to the last
/// non-empty bucket; open ends leave out `min` or `max`.
fn buckets_json(buckets: &[u64], ty: &Type, div: u64) -> String {
    let Some(first) = buckets.iter().position(|&c| c > 0) else {
        return "[]".to_string();
    };
    let last = buckets.iter().rposition(|&c| c > 0).unwrap_or(first);
    let rows: Vec<String> = (first..=last)
        .map(|i| {
            let range = bucket_range(i as u64, ty);
            let mut fields = Vec::new();
            if let Some(min) = range.min {
                fields.push(format!("\"min\": {min}"));
            }
            if let Some(max) = range.max {
                fields.push(format!("\"max\": {max}"));
            }
            fields.push(format!("\"count\": {}", buckets[i] / div.max(1)));
            format!("{{{}}}", fields.join(", "))
        })
        .collect();
    format!("[{}]", rows.join(", "))
}

fn bucket_range(index: u64, ty: &Type) -> BucketRange {
    match ty {
        Type::Lhist { min, max, step } => lhist_range(index, *min, *max, *step),
        _ => hist_range(index),
    }
}
