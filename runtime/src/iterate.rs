//! `for ($kv : @map)` in user space: a snapshot of a map's entries, per-CPU
//! copies merged, in a defined order — value descending (the order of
//! SystemTap's `foreach (k in m-)`), ties by key ascending.

use crate::maps::MapTable;
use rtrace_compiler::ir::{MapId, MapSpec};
use rtrace_stdlib::types::Type;
use rtrace_stdlib::value::{decode, decode_key, Value};
use std::cmp::Ordering;
use std::io;

/// One entry: key bytes (the map's `key_size`) and value bytes (`value_size`, merged).
pub type SnapshotEntry = (Vec<u8>, Vec<u8>);

/// Every entry of `map`, sorted; `merge` turns the per-CPU copies into one value.
pub fn sorted_entries(
    maps: &MapTable,
    map: MapId,
    merge: impl Fn(&MapSpec, &[Vec<u8>]) -> Vec<u8>,
) -> io::Result<Vec<SnapshotEntry>> {
    let Some(spec) = maps.spec(map).cloned() else {
        return Ok(Vec::new());
    };
    let mut entries: Vec<SnapshotEntry> = maps
        .read_entries(map)?
        .into_iter()
        .map(|(key, copies)| (key, merge(&spec, &copies)))
        .collect();
    entries.sort_by(|a, b| {
        let by_value = value_rank(&spec.value_type, &b.1).cmp(&value_rank(&spec.value_type, &a.1));
        by_value.then_with(|| {
            key_cmp(
                &decode_key(&spec.key_type, &a.0),
                &decode_key(&spec.key_type, &b.0),
            )
        })
    });
    Ok(entries)
}

/// What a value sorts by: the number a script reads it as, or its text.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Text(Vec<u8>),
    Number(i128),
}

fn value_rank(ty: &Type, bytes: &[u8]) -> Rank {
    let number = match decode(ty, bytes) {
        Value::Int(i) => i128::from(i),
        Value::UInt(u) | Value::Count(u) => i128::from(u),
        Value::Sum { total, .. } => i128::from(total),
        Value::Avg { total, count } => i128::from(Value::average(total, count)),
        Value::Min { value, .. } | Value::Max { value, .. } => i128::from(value),
        Value::Str(s) => return Rank::Text(s.into_bytes()),
        _ => return Rank::Text(bytes.to_vec()),
    };
    Rank::Number(number)
}

/// Keys ascending: integers as their stored 64 bits, unsigned (as map printing
/// orders them), strings bytewise, tuples component by component.
fn key_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Tuple(x), Value::Tuple(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| key_cmp(p, q))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal),
        _ => bits(a).cmp(&bits(b)),
    }
}

fn bits(v: &Value) -> u64 {
    match v {
        Value::Int(i) => *i as u64,
        Value::UInt(u)
        | Value::Ksym(u)
        | Value::Usym(u, _)
        | Value::Probe(u)
        | Value::KsymOff(u) => *u,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_rank_as_scripts_read_them() {
        let w = |v: i64| v.to_le_bytes().to_vec();
        assert!(value_rank(&Type::Count, &w(5)) > value_rank(&Type::Count, &w(3)));
        assert!(value_rank(&Type::I64, &w(-1)) < value_rank(&Type::I64, &w(0)));
        let avg = |t: i64, c: i64| [w(t), w(c)].concat();
        assert!(value_rank(&Type::Avg, &avg(10, 2)) > value_rank(&Type::Avg, &avg(9, 3)));
        assert_eq!(
            key_cmp(&Value::Str("a".into()), &Value::Str("b".into())),
            Ordering::Less
        );
    }
}
