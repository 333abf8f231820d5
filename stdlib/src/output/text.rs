//! The text output format, byte for byte like bpftrace 0.17.

use super::prepare::{number_of, prepare, Data};
use super::RawMap;
use crate::buckets::{hist_label, lhist_label};
use crate::symbols::{stack_text, Resolver};
use crate::types::Type;
use crate::value::{decode, Value};

/// Width of a hist row's label column.
const LABEL_WIDTH: usize = 16;
/// Width of a hist row's count column.
const COUNT_WIDTH: usize = 8;
/// Width of a hist row's bar (the largest bucket fills it).
const BAR_WIDTH: usize = 52;

/// A value as text: strings unquoted, tuples `(a, b)`, symbols resolved,
/// aggregations by what they print (`count N, average N, total N` for stats).
pub fn value_text(value: &Value, resolver: &dyn Resolver) -> String {
    match value {
        Value::None => String::new(),
        Value::Str(s) => s.clone(),
        Value::Tuple(items) => {
            let items: Vec<String> = items.iter().map(|v| value_text(v, resolver)).collect();
            format!("({})", items.join(", "))
        }
        Value::Ksym(addr) => resolver.ksym(*addr),
        Value::Usym(addr, pid) => resolver.usym(*addr, Some(*pid)),
        Value::KsymOff(addr) => resolver.ksymoff(*addr),
        Value::Probe(id) => resolver.probe_name(*id),
        Value::Stats { total, count } => stats_text(*total, *count),
        Value::Stack(stack) => stack_text(resolver, stack, 8),
        other => number_of(other).map(|n| n.to_string()).unwrap_or_default(),
    }
}

fn stats_text(total: i64, count: u64) -> String {
    let average = Value::average(total, count);
    format!("count {count}, average {average}, total {total}")
}

/// `print(expr)`: the value's text, without the newline that ends the line.
pub fn print_value_text(ty: &Type, bytes: &[u8], resolver: &dyn Resolver) -> String {
    value_text(&decode(ty, bytes), resolver)
}

/// A whole map as `print(@m, top, div)` and the exit dump print it (`top` 0 =
/// all entries, `div` 0 or 1 = no division).
///
/// Blank lines follow 0.17: none after count/sum/min/max/int/string maps, one
/// after avg and stats maps and after each hist block; ksym/usym value entries
/// are run together and ended by one newline. An empty map prints a blank line
/// (two for avg/stats), as 0.17 does for cleared maps.
pub fn print_map_text(map: &RawMap, top: u64, div: u64, resolver: &dyn Resolver) -> String {
    let entries = prepare(map, top);
    let blank_after = matches!(map.value_type, Type::Avg | Type::Stats);
    let mut out = String::new();
    if entries.is_empty() {
        out.push('\n');
    }
    for entry in &entries {
        out.push_str(&header(&map.name, &entry.key, resolver));
        match &entry.data {
            Data::Buckets(buckets) => {
                out.push_str(": \n");
                out.push_str(&bucket_rows(buckets, &map.value_type, div));
                out.push('\n');
            }
            Data::Scalar(value) => {
                out.push_str(": ");
                out.push_str(&scalar_text(value, div, resolver));
                if !joined_values(&map.value_type) {
                    out.push('\n');
                }
            }
        }
    }
    if !entries.is_empty() && joined_values(&map.value_type) {
        out.push('\n');
    }
    if blank_after {
        out.push('\n');
    }
    out
}

/// Value types whose map entries 0.17 runs together (no newline after each).
fn joined_values(ty: &Type) -> bool {
    matches!(ty, Type::Ksym | Type::Usym | Type::Inet | Type::Stack(_))
}

/// A map value as printed after `@m[k]: `; `div` divides numbers but not stats.
fn scalar_text(value: &Value, div: u64, resolver: &dyn Resolver) -> String {
    match (value, number_of(value)) {
        (Value::Stats { .. }, _) | (_, None) => value_text(value, resolver),
        (_, Some(n)) => n.divided(div).to_string(),
    }
}

/// `@name`, `@name[k]` or `@name[k1, k2]`.
pub fn header(name: &str, key: &Value, resolver: &dyn Resolver) -> String {
    match key {
        Value::None => name.to_string(),
        key => format!("{name}[{}]", key_text(key, ", ", resolver)),
    }
}

/// A key's text; the components of a multi-key are joined by `sep`.
pub fn key_text(key: &Value, sep: &str, resolver: &dyn Resolver) -> String {
    match key {
        Value::Tuple(parts) => {
            let parts: Vec<String> = parts.iter().map(|p| key_part_text(p, resolver)).collect();
            parts.join(sep)
        }
        other => key_part_text(other, resolver),
    }
}

/// One key component: stacks in keys are indented by 4, not 8.
fn key_part_text(part: &Value, resolver: &dyn Resolver) -> String {
    match part {
        Value::Stack(stack) => stack_text(resolver, stack, 4),
        other => value_text(other, resolver),
    }
}

/// The rows from the first to the last non-empty bucket: a 16-column label,
/// an 8-column count (divided by `div`) and a 52-column bar scaled to the
/// largest (undivided) count, computed in f32 as 0.17 does.
fn bucket_rows(buckets: &[u64], ty: &Type, div: u64) -> String {
    let Some(first) = buckets.iter().position(|&c| c > 0) else {
        return String::new();
    };
    let last = buckets.iter().rposition(|&c| c > 0).unwrap_or(first);
    let max = buckets.iter().copied().max().unwrap_or(1);
    let mut out = String::new();
    for (index, &count) in buckets.iter().enumerate().take(last + 1).skip(first) {
        let bar = (count as f32 / max as f32 * BAR_WIDTH as f32) as usize;
        out.push_str(&format!(
            "{:<LABEL_WIDTH$}{:>COUNT_WIDTH$} |{:<BAR_WIDTH$}|\n",
            bucket_label(index as u64, ty),
            count / div.max(1),
            "@".repeat(bar.min(BAR_WIDTH)),
        ));
    }
    out
}

fn bucket_label(index: u64, ty: &Type) -> String {
    match ty {
        Type::Lhist { min, max, step } => lhist_label(index, *min, *max, *step),
        _ => hist_label(index),
    }
}
