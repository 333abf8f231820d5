//! Bucket numbering of `hist()` and `lhist()`, shared by the compiler (which must
//! compute the same index in IR) and by the printers (labels and JSON bounds).
//!
//! hist() has [`HIST_BUCKETS`](crate::types::HIST_BUCKETS) buckets:
//! - 0: negative values, label `(..., 0)`;
//! - 1: zero, label `[0]`;
//! - 2: one, label `[1]`;
//! - k ≥ 3: `[2^(k-2), 2^(k-1))`, i.e. `2 + floor(log2(v))` for v ≥ 1.
//!
//! lhist(min, max, step) has `(max - min) / step + 2` buckets:
//! - 0: `v < min`, label `(..., min)`;
//! - 1 + (v - min) / step for `min <= v`, capped at the last bucket;
//! - last: `[max, ...)` (bpftrace puts the tail of an uneven last step here too).

/// The hist() bucket of `v`: 0 if negative, 1 if zero, else `2 + floor(log2(v))`.
///
/// In IR: `v < 0 ? 0 : v == 0 ? 1 : 2 + (63 - clz(v))`, where `63 - clz(v)` is
/// the index of the highest set bit (a 6-step binary search of shifts).
pub fn hist_bucket_of(v: i64) -> u64 {
    match v {
        i64::MIN..=-1 => 0,
        0 => 1,
        _ => 2 + u64::from(63 - v.leading_zeros()),
    }
}

/// Number of lhist() buckets, including the under- and overflow buckets.
/// Degenerate parameters (step ≤ 0, max < min) give just those two.
pub fn lhist_buckets(min: i64, max: i64, step: i64) -> u64 {
    if step <= 0 || max < min {
        return 2;
    }
    let inner = (i128::from(max) - i128::from(min)) / i128::from(step);
    u64::try_from(inner).unwrap_or(0).saturating_add(2)
}

/// The lhist() bucket of `v` (see the module comment).
pub fn lhist_bucket_of(v: i64, min: i64, max: i64, step: i64) -> u64 {
    let last = lhist_buckets(min, max, step) - 1;
    if v < min {
        return 0;
    }
    if step <= 0 {
        return last;
    }
    let inner = (i128::from(v) - i128::from(min)) / i128::from(step);
    u64::try_from(inner)
        .map(|i| i.saturating_add(1))
        .unwrap_or(last)
        .min(last)
}

/// The value range one bucket holds, as JSON prints it (`min`/`max` inclusive;
/// `None` is an open end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BucketRange {
    pub min: Option<i128>,
    pub max: Option<i128>,
}

/// Range of hist() bucket `index` (< `HIST_BUCKETS`).
pub fn hist_range(index: u64) -> BucketRange {
    match index {
        0 => BucketRange {
            min: None,
            max: Some(-1),
        },
        1 => BucketRange {
            min: Some(0),
            max: Some(0),
        },
        _ => {
            let lo = 1i128 << (index - 2).min(126);
            BucketRange {
                min: Some(lo),
                max: Some(2 * lo - 1),
            }
        }
    }
}

/// Range of lhist() bucket `index`.
pub fn lhist_range(index: u64, min: i64, max: i64, step: i64) -> BucketRange {
    let last = lhist_buckets(min, max, step) - 1;
    if index == 0 {
        return BucketRange {
            min: None,
            max: Some(i128::from(min) - 1),
        };
    }
    if index >= last {
        return BucketRange {
            min: Some(i128::from(max)),
            max: None,
        };
    }
    let lo = i128::from(min) + i128::from(index - 1) * i128::from(step);
    BucketRange {
        min: Some(lo),
        max: Some(lo + i128::from(step) - 1),
    }
}

/// Text label of hist() bucket `index`: `(..., 0)`, `[0]`, `[1]`, `[2, 4)`, `[512, 1K)`.
pub fn hist_label(index: u64) -> String {
    match index {
        0 => "(..., 0)".to_string(),
        1 => "[0]".to_string(),
        2 => "[1]".to_string(),
        _ => {
            let power = (index - 2) as u32;
            format!("[{}, {})", power_label(power), power_label(power + 1))
        }
    }
}

/// `2^power` with bpftrace's suffixes: K from 2^10, M from 2^20, G from 2^30, T from 2^40.
fn power_label(power: u32) -> String {
    const SUFFIXES: [(u32, &str); 4] = [(40, "T"), (30, "G"), (20, "M"), (10, "K")];
    for (base, suffix) in SUFFIXES {
        if power >= base {
            return format!("{}{suffix}", 1u128 << (power - base));
        }
    }
    (1u64 << power).to_string()
}

/// Text label of lhist() bucket `index`: `(..., 0)`, `[1K, 2K)`, `[4K, ...)`.
pub fn lhist_label(index: u64, min: i64, max: i64, step: i64) -> String {
    let range = lhist_range(index, min, max, step);
    match (range.min, range.max) {
        (None, _) => format!("(..., {})", linear_label(i128::from(min))),
        (Some(lo), None) => format!("[{}, ...)", linear_label(lo)),
        (Some(lo), Some(hi)) => format!("[{}, {})", linear_label(lo), linear_label(hi + 1)),
    }
}

/// A number as lhist labels print it: `NM` if divisible by 2^20, `NK` if by 2^10.
fn linear_label(n: i128) -> String {
    const MEGA: i128 = 1 << 20;
    const KILO: i128 = 1 << 10;
    if n == 0 {
        "0".to_string()
    } else if n % MEGA == 0 {
        format!("{}M", n / MEGA)
    } else if n % KILO == 0 {
        format!("{}K", n / KILO)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hist_buckets_follow_powers_of_two() {
        let cases = [
            (-5, 0),
            (0, 1),
            (1, 2),
            (2, 3),
            (3, 3),
            (4, 4),
            (1023, 11),
            (1024, 12),
        ];
        for (v, b) in cases {
            assert_eq!(hist_bucket_of(v), b, "value {v}");
        }
        assert_eq!(hist_bucket_of(i64::MAX), 64);
        assert_eq!(hist_label(65), "[8388608T, 16777216T)");
    }

    #[test]
    fn lhist_caps_at_last_bucket() {
        assert_eq!(lhist_buckets(0, 10, 3), 5);
        assert_eq!(lhist_bucket_of(9, 0, 10, 3), 4);
        assert_eq!(lhist_bucket_of(8, 0, 10, 3), 3);
        assert_eq!(lhist_bucket_of(-1, 0, 10, 3), 0);
        assert_eq!(lhist_bucket_of(i64::MAX, 0, 10, 3), 4);
        assert_eq!(lhist_label(4, 0, 10, 3), "[10, ...)");
        assert_eq!(lhist_label(3, 0, 10, 3), "[6, 9)");
    }

    #[test]
    fn degenerate_lhist_has_two_buckets() {
        assert_eq!(lhist_buckets(0, 10, 0), 2);
        assert_eq!(lhist_bucket_of(5, 0, 10, 0), 1);
    }
}
