//! Turning a map's raw entries into what gets printed: per-CPU values merged,
//! hist buckets grouped per key, entries sorted and cut to `top`, as bpftrace
//! 0.17 does before printing (the same for text and JSON).

use super::RawMap;
use crate::buckets::lhist_buckets;
use crate::merge::merge_per_cpu;
use crate::types::{Type, HIST_BUCKETS};
use crate::value::{decode_key, read_u64, Value};
use std::cmp::Ordering;

/// One printed entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `Value::None` for a keyless map; a `Tuple` for multi-key maps.
    pub key: Value,
    pub data: Data,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    Scalar(Value),
    /// Merged counts of every hist/lhist bucket, indexed by bucket number.
    Buckets(Vec<u64>),
}

/// A number the output sorts by and divides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Number {
    Signed(i64),
    Unsigned(u64),
}

impl Number {
    /// `print(@m, top, div)` division: truncating, signed or not like the value.
    pub fn divided(self, div: u64) -> Number {
        let div = div.max(1);
        match self {
            Number::Unsigned(u) => Number::Unsigned(u / div),
            Number::Signed(s) => Number::Signed(match i64::try_from(div) {
                Ok(d) => s.wrapping_div(d),
                Err(_) => 0,
            }),
        }
    }

    fn cmp(self, other: Number) -> Ordering {
        match (self, other) {
            (Number::Signed(a), Number::Signed(b)) => a.cmp(&b),
            (Number::Unsigned(a), Number::Unsigned(b)) => a.cmp(&b),
            (Number::Signed(a), Number::Unsigned(b)) => i128::from(a).cmp(&i128::from(b)),
            (Number::Unsigned(a), Number::Signed(b)) => i128::from(a).cmp(&i128::from(b)),
        }
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Number::Signed(s) => write!(f, "{s}"),
            Number::Unsigned(u) => write!(f, "{u}"),
        }
    }
}

/// The number a scalar value prints as (before `div`), if it is one.
/// sum/min/max/avg are signed: bpftrace 0.17 prints min, max and avg signed, and
/// `Type::Sum` records no signedness.
pub fn number_of(value: &Value) -> Option<Number> {
    match value {
        Value::Int(i) => Some(Number::Signed(*i)),
        Value::UInt(u) | Value::Count(u) => Some(Number::Unsigned(*u)),
        Value::Sum { total, .. } => Some(Number::Signed(*total)),
        Value::Min { value, .. } | Value::Max { value, .. } => Some(Number::Signed(*value)),
        Value::Avg { total, count } | Value::Stats { total, count } => {
            Some(Number::Signed(Value::average(*total, *count)))
        }
        _ => None,
    }
}

/// Number of buckets a hist/lhist value type has (0 for other types).
pub fn bucket_count(ty: &Type) -> usize {
    match ty {
        Type::Hist => HIST_BUCKETS as usize,
        Type::Lhist { min, max, step } => {
            usize::try_from(lhist_buckets(*min, *max, *step)).unwrap_or(0)
        }
        _ => 0,
    }
}

/// Merged, grouped, sorted entries, keeping only the `top` largest (0 = all).
pub fn prepare(map: &RawMap, top: u64) -> Vec<Entry> {
    let mut entries = if bucket_count(&map.value_type) > 0 {
        group_buckets(map)
    } else {
        scalar_entries(map)
    };
    sort(&mut entries, &map.value_type);
    // 0.17 ignores `top` for stats() maps.
    if top > 0 && map.value_type != Type::Stats {
        let keep = usize::try_from(top).unwrap_or(usize::MAX);
        let drop = entries.len().saturating_sub(keep);
        entries.drain(..drop);
    }
    entries
}

fn key_of(map: &RawMap, bytes: &[u8]) -> Value {
    match map.key_type {
        Type::None => Value::None,
        ref ty => decode_key(ty, bytes),
    }
}

fn scalar_entries(map: &RawMap) -> Vec<Entry> {
    map.entries
        .iter()
        .map(|e| Entry {
            key: key_of(map, &e.key),
            data: Data::Scalar(merge_per_cpu(&map.value_type, &e.values)),
        })
        .collect()
}

/// Groups `user key ++ bucket index` entries by user key, in first-seen order.
fn group_buckets(map: &RawMap) -> Vec<Entry> {
    let nbuckets = bucket_count(&map.value_type);
    let key_len = map.key_type.size() as usize;
    let mut groups: Vec<(&[u8], Vec<u64>)> = Vec::new();
    for raw in &map.entries {
        let split = key_len.min(raw.key.len());
        let (user_key, bucket) = raw.key.split_at(split);
        let Ok(index) = usize::try_from(read_u64(bucket, 0)) else {
            continue;
        };
        if index >= nbuckets {
            continue;
        }
        let count = match merge_per_cpu(&map.value_type, &raw.values) {
            Value::Count(c) => c,
            _ => 0,
        };
        let slot = match groups.iter().position(|(k, _)| *k == user_key) {
            Some(i) => i,
            None => {
                groups.push((user_key, vec![0; nbuckets]));
                groups.len() - 1
            }
        };
        let buckets = &mut groups[slot].1;
        buckets[index] = buckets[index].wrapping_add(count);
    }
    groups
        .into_iter()
        .map(|(key, buckets)| Entry {
            key: key_of(map, key),
            data: Data::Buckets(buckets),
        })
        .collect()
}

/// bpftrace 0.17 order: by key first (components in turn, integers unsigned,
/// strings bytewise), then, for aggregations and integer values, stably by
/// value ascending (hists by total count). The key pass makes ties deterministic.
fn sort(entries: &mut [Entry], value_type: &Type) {
    entries.sort_by(|a, b| key_cmp(&a.key, &b.key));
    match value_type {
        Type::Hist | Type::Lhist { .. } => entries.sort_by_key(|e| match &e.data {
            Data::Buckets(b) => b.iter().fold(0u64, |acc, c| acc.wrapping_add(*c)),
            Data::Scalar(_) => 0,
        }),
        Type::Str { .. }
        | Type::Tuple(_)
        | Type::Ksym
        | Type::Usym
        | Type::Probe
        | Type::None
        | Type::Stack(_)
        | Type::KsymOff => {}
        _ => entries.sort_by(|a, b| match (scalar_number(a), scalar_number(b)) {
            (Some(x), Some(y)) => x.cmp(y),
            _ => Ordering::Equal,
        }),
    }
}

fn scalar_number(e: &Entry) -> Option<Number> {
    match &e.data {
        Data::Scalar(v) => number_of(v),
        Data::Buckets(_) => None,
    }
}

/// Key order: integers and addresses unsigned, strings bytewise, tuples
/// component by component (map printing and `for` loops over maps share it).
pub fn key_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Tuple(x), Value::Tuple(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| key_cmp(p, q))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal),
        _ => match (key_bits(a), key_bits(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => Ordering::Equal,
        },
    }
}

fn key_bits(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => Some(*i as u64),
        Value::UInt(u)
        | Value::Ksym(u)
        | Value::Usym(u, _)
        | Value::Probe(u)
        | Value::KsymOff(u) => Some(*u),
        _ => None,
    }
}
