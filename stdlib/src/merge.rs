//! Merging the per-CPU copies of an aggregation into one value, the way every
//! reader of a per-CPU map (printing, `map_read`) must.

use crate::types::Type;
use crate::value::{decode, Value};

/// Decodes each CPU's bytes and merges them: count/hist/lhist and the totals and
/// counts of sum/avg/stats add up (wrapping, like the kernel's u64 adds);
/// min/max take the extreme over the CPUs whose valid flag is set.
/// Non-aggregation types have one copy: the first element is decoded.
pub fn merge_per_cpu(ty: &Type, per_cpu: &[Vec<u8>]) -> Value {
    let mut values = per_cpu.iter().map(|bytes| decode(ty, bytes));
    let Some(first) = values.next() else {
        return decode(ty, &[]);
    };
    if !ty.is_per_cpu() {
        return first;
    }
    values.fold(first, combine)
}

/// Combines two copies of the same aggregation.
fn combine(acc: Value, next: Value) -> Value {
    match (acc, next) {
        (Value::Count(a), Value::Count(b)) => Value::Count(a.wrapping_add(b)),
        (Value::Sum { total, count }, Value::Sum { total: t, count: c }) => Value::Sum {
            total: total.wrapping_add(t),
            count: count.wrapping_add(c),
        },
        (Value::Avg { total, count }, Value::Avg { total: t, count: c }) => Value::Avg {
            total: total.wrapping_add(t),
            count: count.wrapping_add(c),
        },
        (Value::Stats { total, count }, Value::Stats { total: t, count: c }) => Value::Stats {
            total: total.wrapping_add(t),
            count: count.wrapping_add(c),
        },
        (
            Value::Min { value, valid },
            Value::Min {
                value: v,
                valid: ok,
            },
        ) => {
            let (value, valid) = pick_extreme((value, valid), (v, ok), |a, b| b < a);
            Value::Min { value, valid }
        }
        (
            Value::Max { value, valid },
            Value::Max {
                value: v,
                valid: ok,
            },
        ) => {
            let (value, valid) = pick_extreme((value, valid), (v, ok), |a, b| b > a);
            Value::Max { value, valid }
        }
        (acc, _) => acc,
    }
}

/// Keeps `b` over `a` when `a` is unset, or both are set and `better(a, b)`.
fn pick_extreme(a: (i64, bool), b: (i64, bool), better: impl Fn(i64, i64) -> bool) -> (i64, bool) {
    match (a.1, b.1) {
        (_, false) => a,
        (false, true) => b,
        (true, true) if better(a.0, b.0) => b,
        _ => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(a: i64, b: u64) -> Vec<u8> {
        let mut v = a.to_le_bytes().to_vec();
        v.extend_from_slice(&b.to_le_bytes());
        v
    }

    #[test]
    fn min_ignores_cpus_without_a_value() {
        let cpus = [pair(0, 0), pair(7, 1), pair(-3, 1), pair(-100, 0)];
        assert_eq!(
            merge_per_cpu(&Type::Min, &cpus),
            Value::Min {
                value: -3,
                valid: true
            }
        );
        assert_eq!(
            merge_per_cpu(&Type::Max, &cpus),
            Value::Max {
                value: 7,
                valid: true
            }
        );
    }

    #[test]
    fn sums_add_both_fields() {
        let cpus = [pair(10, 1), pair(-4, 2)];
        assert_eq!(
            merge_per_cpu(&Type::Avg, &cpus),
            Value::Avg { total: 6, count: 3 }
        );
        let counts = [5u64.to_le_bytes().to_vec(), 6u64.to_le_bytes().to_vec()];
        assert_eq!(merge_per_cpu(&Type::Hist, &counts), Value::Count(11));
    }

    #[test]
    fn plain_values_use_the_single_copy() {
        let one = [7i64.to_le_bytes().to_vec()];
        assert_eq!(merge_per_cpu(&Type::I64, &one), Value::Int(7));
    }
}
