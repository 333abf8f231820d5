//! Decoded values: the bytes of a key, value, tuple or event argument turned into
//! something printable, following the layout rule in [`crate::types`].

use crate::funcs;
use crate::stacks::StackValue;
use crate::types::{tuple_layout, Type, AGG_COUNT, AGG_TOTAL, MINMAX_VALID, MINMAX_VALUE};

/// A value read back from the kernel (or from JIT code), ready to be printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// The value of `Type::None`.
    None,
    /// A signed integer (already sign-extended from its declared width).
    Int(i64),
    /// An unsigned integer (already truncated to its declared width).
    UInt(u64),
    /// A string, cut at its first NUL.
    Str(String),
    Tuple(Vec<Value>),
    /// A kernel address, printed as its symbol.
    Ksym(u64),
    /// A user address and the pid whose address space it is in, printed as
    /// its symbol.
    Usym(u64, u32),
    /// A probe index, printed as the probe's full name.
    Probe(u64),
    /// `count()`, and one bucket of `hist()`/`lhist()`.
    Count(u64),
    /// `sum()`: the running total and how many values were added.
    Sum {
        total: i64,
        count: u64,
    },
    /// `min()`: `valid` is false until a value has been recorded.
    Min {
        value: i64,
        valid: bool,
    },
    /// `max()`: `valid` is false until a value has been recorded.
    Max {
        value: i64,
        valid: bool,
    },
    /// `avg()`: printed as `total / count`.
    Avg {
        total: i64,
        count: u64,
    },
    /// `stats()`: printed as `count N, average N, total N`.
    Stats {
        total: i64,
        count: u64,
    },
    /// `kstack` / `ustack`: printed as its frames.
    Stack(StackValue),
    /// A kernel address, printed as `symbol+0xoff/0xsize [module]`.
    KsymOff(u64),
}

impl Value {
    /// The integer division bpftrace 0.17 prints for `avg()` and `stats()`:
    /// signed, truncating toward zero, 0 when nothing was recorded.
    pub fn average(total: i64, count: u64) -> i64 {
        i64::try_from(count)
            .ok()
            .and_then(|c| total.checked_div(c))
            .unwrap_or(0)
    }
}

/// Decodes `bytes` laid out as `ty`. Missing bytes read as zero, so a short
/// buffer never panics.
pub fn decode(ty: &Type, bytes: &[u8]) -> Value {
    decode_with(ty, bytes, IntMode::Declared)
}

/// Decodes a map key. bpftrace 0.17 prints every integer map key as the signed
/// 64-bit number its 8 stored bytes make, whatever the declared type
/// (`@[(uint64)-1]` prints `-1`, `@[(uint32)-1]` prints `4294967295`).
pub fn decode_key(ty: &Type, bytes: &[u8]) -> Value {
    decode_with(ty, bytes, IntMode::KeyRaw)
}

/// How integers are interpreted.
#[derive(Clone, Copy)]
enum IntMode {
    /// By their declared width and signedness (values, tuples, event arguments).
    Declared,
    /// As the raw 8 bytes read signed (map keys).
    KeyRaw,
}

fn decode_with(ty: &Type, bytes: &[u8], mode: IntMode) -> Value {
    match ty {
        Type::None => Value::None,
        Type::Int { bits, signed } => match mode {
            IntMode::KeyRaw => Value::Int(read_u64(bytes, 0) as i64),
            IntMode::Declared => decode_int(read_u64(bytes, 0), *bits, *signed),
        },
        Type::Str { len } => Value::Str(decode_str(field(bytes, 0, *len))),
        Type::Tuple(fields) => {
            let (offsets, _) = tuple_layout(fields);
            let items = fields
                .iter()
                .zip(offsets)
                .map(|(f, off)| decode_with(f, field(bytes, off, f.size()), mode))
                .collect();
            Value::Tuple(items)
        }
        Type::Ksym => Value::Ksym(read_u64(bytes, 0)),
        Type::Usym => Value::Usym(read_u64(bytes, 0), read_u64(bytes, 8) as u32),
        Type::Probe => Value::Probe(read_u64(bytes, 0)),
        // bpftrace 0.17 prints pointer values as signed 64-bit numbers, and
        // pointer map keys in hex.
        Type::Ptr { .. } => match mode {
            IntMode::Declared => Value::Int(read_u64(bytes, 0) as i64),
            IntMode::KeyRaw => Value::Str(format!("{:#x}", read_u64(bytes, 0))),
        },
        Type::Enum(def) => {
            let raw = read_u64(bytes, 0);
            match (def.name_of(raw), mode) {
                (Some(name), _) => Value::Str(name.to_string()),
                (None, IntMode::KeyRaw) => Value::Int(raw as i64),
                (None, IntMode::Declared) => decode_int(raw, def.bits, def.signed),
            }
        }
        Type::Count | Type::Hist | Type::Lhist { .. } => Value::Count(read_u64(bytes, 0)),
        Type::Sum => Value::Sum {
            total: read_i64(bytes, AGG_TOTAL),
            count: read_u64(bytes, AGG_COUNT),
        },
        Type::Avg => Value::Avg {
            total: read_i64(bytes, AGG_TOTAL),
            count: read_u64(bytes, AGG_COUNT),
        },
        Type::Stats => Value::Stats {
            total: read_i64(bytes, AGG_TOTAL),
            count: read_u64(bytes, AGG_COUNT),
        },
        Type::Min => Value::Min {
            value: read_i64(bytes, MINMAX_VALUE),
            valid: read_u64(bytes, MINMAX_VALID) != 0,
        },
        Type::Max => Value::Max {
            value: read_i64(bytes, MINMAX_VALUE),
            valid: read_u64(bytes, MINMAX_VALID) != 0,
        },
        Type::Inet => Value::Str(funcs::format_inet(bytes)),
        Type::MacAddr => Value::Str(funcs::format_mac(field(bytes, 0, 6))),
        Type::Timestamp(format) => Value::Str(funcs::format_timestamp(format, read_u64(bytes, 0))),
        Type::Bytes { len } => Value::Str(funcs::format_bytes(field(bytes, 0, *len))),
        Type::Stack(st) => Value::Stack(StackValue::decode(*st, bytes)),
        Type::Buf { cap } => Value::Str(crate::buf::format_buf(bytes, *cap)),
        Type::KsymOff => Value::KsymOff(read_u64(bytes, 0)),
        Type::SyscallName => Value::Str(crate::syscall_names::format_syscall_name(read_u64(
            bytes, 0,
        ))),
        // The checker refuses to print struct copies; show raw bytes if one slips through.
        Type::Record { size, .. } => Value::Str(funcs::format_bytes(field(bytes, 0, *size))),
    }
}

/// Applies the declared width: sign-extend signed ints, truncate unsigned ones.
fn decode_int(raw: u64, bits: u8, signed: bool) -> Value {
    let shift = 64u32.saturating_sub(u32::from(bits.clamp(1, 64)));
    if signed {
        Value::Int(((raw << shift) as i64) >> shift)
    } else {
        Value::UInt((raw << shift) >> shift)
    }
}

/// The bytes of a string up to its first NUL (invalid UTF-8 is replaced).
pub fn decode_str(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// `bytes[off..off + len]`, clipped to what exists.
fn field(bytes: &[u8], off: u32, len: u32) -> &[u8] {
    let start = (off as usize).min(bytes.len());
    let end = (off as usize + len as usize).min(bytes.len());
    &bytes[start..end]
}

/// Little-endian u64 at `off`; missing bytes read as zero.
pub fn read_u64(bytes: &[u8], off: u32) -> u64 {
    let mut buf = [0u8; 8];
    let src = field(bytes, off, 8);
    buf[..src.len()].copy_from_slice(src);
    u64::from_le_bytes(buf)
}

fn read_i64(bytes: &[u8], off: u32) -> i64 {
    read_u64(bytes, off) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_follow_declared_width() {
        let minus_one = (-1i64).to_le_bytes();
        assert_eq!(
            decode(&Type::int(32, false), &minus_one),
            Value::UInt(0xffff_ffff)
        );
        assert_eq!(decode(&Type::int(8, true), &minus_one), Value::Int(-1));
        assert_eq!(decode(&Type::U64, &minus_one), Value::UInt(u64::MAX));
        assert_eq!(decode_key(&Type::U64, &minus_one), Value::Int(-1));
    }

    #[test]
    fn strings_stop_at_nul_and_tuples_use_layout() {
        let ty = Type::Tuple(vec![Type::Str { len: 3 }, Type::I64]);
        let mut bytes = vec![b'a', 0, b'z', 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&(-5i64).to_le_bytes());
        let want = Value::Tuple(vec![Value::Str("a".into()), Value::Int(-5)]);
        assert_eq!(decode(&ty, &bytes), want);
    }

    #[test]
    fn pointers_print_signed_and_enums_by_name() {
        let addr = 0xffff_8880_0000_1000u64.to_le_bytes();
        let ptr = Type::Ptr {
            pointee: 1,
            user: false,
        };
        assert_eq!(
            decode(&ptr, &addr),
            Value::Int(0xffff_8880_0000_1000u64 as i64)
        );
        let def = crate::types::EnumDef {
            name: "enum s".into(),
            bits: 32,
            signed: false,
            values: vec![(1, "ONE".into())],
        };
        let ty = Type::Enum(std::sync::Arc::new(def));
        assert_eq!(decode(&ty, &1u64.to_le_bytes()), Value::Str("ONE".into()));
        assert_eq!(decode(&ty, &9u64.to_le_bytes()), Value::UInt(9));
        assert_eq!(decode_key(&ty, &9u64.to_le_bytes()), Value::Int(9));
    }

    #[test]
    fn short_buffers_read_as_zero() {
        assert_eq!(decode(&Type::U64, &[1]), Value::UInt(1));
        assert_eq!(decode(&Type::Avg, &[]), Value::Avg { total: 0, count: 0 });
    }

    #[test]
    fn average_truncates_toward_zero() {
        assert_eq!(Value::average(-11, 2), -5);
        assert_eq!(Value::average(7, 0), 0);
        assert_eq!(Value::average(i64::MIN, u64::MAX), 0);
    }
}
