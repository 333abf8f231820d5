//! The value types of the rtrace language and how each is laid out in bytes.
//!
//! One layout rule serves map keys, map values, tuples and event records, in the
//! kernel and in user space alike:
//! - every integer is stored as 8 bytes (little endian), whatever its declared width;
//!   the width and signedness only matter for arithmetic and printing;
//! - a string of capacity N is N bytes, NUL-padded;
//! - a tuple stores its fields in order, each at an 8-aligned offset, and its size is
//!   rounded up to 8.
//!
//! Because every field starts 8-aligned and ints fill their 8 bytes, the only padding
//! in a record is after strings, which is what the compiler must zero in map keys.

use crate::stacks::StackType;
use std::fmt;
use std::sync::Arc;

/// A value type. Aggregation types (`Count` … `Lhist`) only ever appear as map value types.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// No value (statements, `printf` …).
    None,
    Int {
        bits: u8,
        signed: bool,
    },
    /// NUL-padded string with room for `len` bytes (including the terminating NUL).
    Str {
        len: u32,
    },
    Tuple(Vec<Type>),
    /// A kernel address printed as its symbol (`ksym(addr)`).
    Ksym,
    /// A user address printed as its symbol (`usym(addr)`): 16 bytes, the
    /// address then the pid of the process it was taken in.
    Usym,
    /// The `probe` builtin: a u64 probe index printed as the probe's full name.
    Probe,
    /// An address of kernel (`user == false`) or user memory, stored like a u64 and
    /// printed as a signed 64-bit number, as bpftrace 0.17 prints pointers. `pointee`
    /// is the compiler's handle for the pointed-to type (a BTF type id of the running
    /// kernel, or a type the compiler made up); only the checker interprets it.
    Ptr {
        pointee: u32,
        user: bool,
    },
    /// An integer of a kernel enum type: computed and compared like an integer,
    /// printed as the name of its enumerator (the number when none matches).
    Enum(Arc<EnumDef>),
    /// `count()`: u64 per CPU, summed.
    Count,
    /// `sum(x)`: [`AGG_TOTAL`, `AGG_COUNT`] per CPU.
    Sum,
    /// `min(x)`: [value, valid flag] per CPU.
    Min,
    /// `max(x)`: [value, valid flag] per CPU.
    Max,
    /// `avg(x)`: [total, count] per CPU; printed as total / count.
    Avg,
    /// `stats(x)`: [total, count] per CPU; printed as `count N, average N, total N`.
    Stats,
    /// `hist(x)`: the map key carries an extra u64 bucket index; value is a u64 count per CPU.
    Hist,
    /// `lhist(x, min, max, step)`: like `Hist` with linear buckets.
    Lhist {
        min: i64,
        max: i64,
        step: i64,
    },
    /// `ntop(addr)`: [`INET_FAMILY`] (u64 address family) then 16 address bytes,
    /// printed as an IPv4 or IPv6 address.
    Inet,
    /// `macaddr(p)`: 6 bytes in a u64, printed as `AA:BB:CC:DD:EE:FF`.
    MacAddr,
    /// `strftime(fmt, nsecs)`: monotonic nanoseconds printed as local time with `fmt`.
    Timestamp(Arc<str>),
    /// A constant byte array (`pton("1.2.3.4")`), printed as `[1,2,3,4]`.
    Bytes {
        len: u32,
    },
    /// `kstack` / `ustack` (layout in [`crate::stacks`]).
    Stack(StackType),
    /// `buf(p, n)`: a u64 byte count at [`BUF_LEN`], then room for `cap` bytes at
    /// [`BUF_DATA`] (zero past the count), printed with non-printable bytes as `\xNN`.
    Buf {
        cap: u32,
    },
    /// `ksymoff(addr)`: a kernel address printed as
    /// `symbol+0xoff/0xsize [module]` (an rtrace extension), stored like a u64.
    KsymOff,
    /// `syscall_name(nr)`: an x86-64 syscall number, stored like a u64 and
    /// printed as the syscall's name (the number when it has none).
    SyscallName,
    /// A copy of a kernel struct or union (`$d = $dentry->d_name`): `size` bytes
    /// laid out as in the kernel. `id` is the compiler's handle for the record type,
    /// as in [`Type::Ptr`]. Its fields can be read; it is not printed.
    Record {
        id: u32,
        size: u32,
    },
}

/// A kernel enum type, with what printing needs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnumDef {
    /// `enum tcp_state` (or a typedef name); empty for anonymous enums.
    pub name: String,
    /// Width of the stored value in bits (8, 16, 32 or 64).
    pub bits: u8,
    pub signed: bool,
    /// Enumerators in declaration order.
    pub values: Vec<(i64, String)>,
}

impl EnumDef {
    /// The enumerator whose value equals `raw` on the enum's width.
    pub fn name_of(&self, raw: u64) -> Option<&str> {
        let mask = match self.bits {
            64 => u64::MAX,
            b => (1u64 << b) - 1,
        };
        self.values
            .iter()
            .find(|(v, _)| (*v as u64 ^ raw) & mask == 0)
            .map(|(_, n)| n.as_str())
    }
}

/// Offset of the running total in `Sum`/`Avg`/`Stats` values.
pub const AGG_TOTAL: u32 = 0;
/// Offset of the event count in `Sum`/`Avg`/`Stats` values.
pub const AGG_COUNT: u32 = 8;
/// Offset of the current value in `Min`/`Max` values.
pub const MINMAX_VALUE: u32 = 0;
/// Offset of the "has been set" flag in `Min`/`Max` values.
pub const MINMAX_VALID: u32 = 8;

/// Offset of the address family in `Inet` values.
pub const INET_FAMILY: u32 = 0;
/// Offset of the address bytes (network order, 4 or 16) in `Inet` values.
pub const INET_ADDR: u32 = 8;
/// Size of an `Inet` value.
pub const INET_SIZE: u32 = 24;

/// Offset of the byte count in `Buf` values.
pub const BUF_LEN: u32 = 0;
/// Offset of the bytes in `Buf` values.
pub const BUF_DATA: u32 = 8;

/// Number of hist() buckets: the negative bucket, [0], then [2^k, 2^(k+1)) for k in 0..64.
pub const HIST_BUCKETS: u32 = 66;

impl Type {
    pub const U64: Type = Type::Int {
        bits: 64,
        signed: false,
    };
    pub const I64: Type = Type::Int {
        bits: 64,
        signed: true,
    };
    pub const U32: Type = Type::Int {
        bits: 32,
        signed: false,
    };

    pub fn int(bits: u8, signed: bool) -> Type {
        Type::Int { bits, signed }
    }

    pub fn is_int(&self) -> bool {
        matches!(self, Type::Int { .. })
    }

    pub fn is_str(&self) -> bool {
        matches!(self, Type::Str { .. })
    }

    /// Values that live in memory (stack slots) rather than in one register.
    pub fn in_memory(&self) -> bool {
        matches!(
            self,
            Type::Str { .. }
                | Type::Tuple(_)
                | Type::Inet
                | Type::Bytes { .. }
                | Type::Stack(crate::stacks::StackType { user: true, .. })
                | Type::Buf { .. }
                | Type::Usym
                | Type::Record { .. }
        )
    }

    /// True for the types produced by aggregation functions (map value only).
    pub fn is_aggregation(&self) -> bool {
        matches!(
            self,
            Type::Count
                | Type::Sum
                | Type::Min
                | Type::Max
                | Type::Avg
                | Type::Stats
                | Type::Hist
                | Type::Lhist { .. }
        )
    }

    /// Aggregations whose storage is per CPU and summed (or merged) when read.
    pub fn is_per_cpu(&self) -> bool {
        self.is_aggregation()
    }

    /// Bytes this type occupies in a key, value, tuple or record.
    pub fn size(&self) -> u32 {
        match self {
            Type::None => 0,
            Type::Int { .. }
            | Type::Ksym
            | Type::Probe
            | Type::Ptr { .. }
            | Type::Enum(_)
            | Type::MacAddr
            | Type::Timestamp(_) => 8,
            Type::Inet => INET_SIZE,
            Type::Bytes { len } => *len,
            Type::Str { len } => *len,
            Type::Tuple(fields) => tuple_layout(fields).1,
            Type::Count | Type::Hist | Type::Lhist { .. } => 8,
            Type::Sum | Type::Min | Type::Max | Type::Avg | Type::Stats => 16,
            Type::Stack(st) => st.size(),
            Type::Buf { cap } => BUF_DATA + cap,
            Type::KsymOff => 8,
            Type::SyscallName => 8,
            // The address, then the pid whose address space it belongs to.
            Type::Usym => 16,
            Type::Record { size, .. } => *size,
        }
    }
}

/// Field offsets and total size of a tuple (see the module comment for the rule).
pub fn tuple_layout(fields: &[Type]) -> (Vec<u32>, u32) {
    let mut offsets = Vec::with_capacity(fields.len());
    let mut off = 0u32;
    for f in fields {
        offsets.push(off);
        off += round8(f.size());
    }
    (offsets, off)
}

pub fn round8(n: u32) -> u32 {
    (n + 7) & !7
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::None => write!(f, "none"),
            Type::Int { bits, signed } => {
                write!(f, "{}int{}", if *signed { "" } else { "u" }, bits)
            }
            Type::Str { len } => write!(f, "string[{len}]"),
            Type::Tuple(fields) => {
                write!(f, "(")?;
                for (i, t) in fields.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{t}")?;
                }
                write!(f, ")")
            }
            Type::Ksym => write!(f, "ksym"),
            Type::Usym => write!(f, "usym"),
            Type::Probe => write!(f, "probe"),
            Type::Ptr { user: false, .. } => write!(f, "kernel pointer"),
            Type::Ptr { user: true, .. } => write!(f, "user pointer"),
            Type::Enum(def) if def.name.is_empty() => write!(f, "enum"),
            Type::Enum(def) => write!(f, "{}", def.name),
            Type::Count => write!(f, "count"),
            Type::Sum => write!(f, "sum"),
            Type::Min => write!(f, "min"),
            Type::Max => write!(f, "max"),
            Type::Avg => write!(f, "avg"),
            Type::Stats => write!(f, "stats"),
            Type::Hist => write!(f, "hist"),
            Type::Lhist { .. } => write!(f, "lhist"),
            Type::Inet => write!(f, "inet"),
            Type::MacAddr => write!(f, "macaddr"),
            Type::Timestamp(_) => write!(f, "timestamp"),
            Type::Bytes { len } => write!(f, "uint8[{len}]"),
            Type::Stack(st) => write!(f, "{st}"),
            Type::Buf { cap } => write!(f, "buffer[{cap}]"),
            Type::KsymOff => write!(f, "ksymoff"),
            Type::SyscallName => write!(f, "syscall_name"),
            Type::Record { size, .. } => write!(f, "struct[{size}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names_match_on_the_enum_width() {
        let def = EnumDef {
            name: "enum e".into(),
            bits: 32,
            signed: true,
            values: vec![(-1, "MINUS".into()), (7, "SEVEN".into())],
        };
        assert_eq!(def.name_of(7), Some("SEVEN"));
        assert_eq!(def.name_of(0xffff_ffff), Some("MINUS"));
        assert_eq!(def.name_of(u64::MAX), Some("MINUS"));
        assert_eq!(def.name_of(8), None);
        assert_eq!(Type::Enum(Arc::new(def)).size(), 8);
    }

    #[test]
    fn tuple_fields_are_8_aligned() {
        let t = [Type::Str { len: 16 }, Type::U32, Type::Str { len: 3 }];
        assert_eq!(tuple_layout(&t), (vec![0, 16, 24], 32));
    }
}
