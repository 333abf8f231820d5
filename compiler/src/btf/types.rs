//! Typed views over BTF records: [`Kind`], [`Type`] and lazy iterators over the entries that
//! follow a record (struct members, enumerators, function parameters, datasec variables).
//!
//! Views borrow the [`Btf`] that owns the record; nothing is copied until asked for.

use super::{Btf, TypeId};

/// The kind of a BTF type record (`BTF_KIND_*`); `Void` is type id 0, which has no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    Void = 0,
    Int = 1,
    Ptr = 2,
    Array = 3,
    Struct = 4,
    Union = 5,
    Enum = 6,
    Fwd = 7,
    Typedef = 8,
    Volatile = 9,
    Const = 10,
    Restrict = 11,
    Func = 12,
    FuncProto = 13,
    Var = 14,
    Datasec = 15,
    Float = 16,
    DeclTag = 17,
    TypeTag = 18,
    Enum64 = 19,
}

impl Kind {
    /// Number of kind values, `Void` included (sizes per-kind tables).
    pub(super) const COUNT: usize = 20;

    const RECORD_KINDS: [Kind; 19] = [
        Kind::Int,
        Kind::Ptr,
        Kind::Array,
        Kind::Struct,
        Kind::Union,
        Kind::Enum,
        Kind::Fwd,
        Kind::Typedef,
        Kind::Volatile,
        Kind::Const,
        Kind::Restrict,
        Kind::Func,
        Kind::FuncProto,
        Kind::Var,
        Kind::Datasec,
        Kind::Float,
        Kind::DeclTag,
        Kind::TypeTag,
        Kind::Enum64,
    ];

    /// The kind stored in a record's `info` word; `None` for 0 and for kinds newer than ours.
    pub fn from_record(raw: u8) -> Option<Kind> {
        Self::RECORD_KINDS
            .get(usize::from(raw).checked_sub(1)?)
            .copied()
    }

    /// Bytes that follow the 12-byte record header for a record of this kind with `vlen` entries.
    pub(super) fn trailing_len(self, vlen: usize) -> usize {
        match self {
            Kind::Int | Kind::Var | Kind::DeclTag => 4,
            Kind::Array => 12,
            Kind::Struct | Kind::Union | Kind::Datasec | Kind::Enum64 => 12 * vlen,
            Kind::Enum | Kind::FuncProto => 8 * vlen,
            _ => 0,
        }
    }

    /// True for the kinds that only qualify or rename another type.
    pub fn is_alias(self) -> bool {
        matches!(
            self,
            Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag
        )
    }
}

/// A decoded type record. Names are empty for anonymous types.
#[derive(Debug, Clone)]
pub enum Type<'a> {
    Void,
    Int {
        name: &'a str,
        size: u32,
        signed: bool,
        is_char: bool,
        is_bool: bool,
        /// Width in bits (may be less than `size * 8` in old-style bitfield encodings).
        bits: u8,
        /// Bit offset of the value inside its storage (old-style bitfields only).
        offset: u8,
    },
    Ptr {
        to: TypeId,
    },
    Array {
        elem: TypeId,
        index: TypeId,
        len: u32,
    },
    Struct(Composite<'a>),
    Union(Composite<'a>),
    Enum(EnumType<'a>),
    Enum64(EnumType<'a>),
    Fwd {
        name: &'a str,
        is_union: bool,
    },
    Typedef {
        name: &'a str,
        to: TypeId,
    },
    Volatile {
        to: TypeId,
    },
    Const {
        to: TypeId,
    },
    Restrict {
        to: TypeId,
    },
    TypeTag {
        name: &'a str,
        to: TypeId,
    },
    Func {
        name: &'a str,
        proto: TypeId,
        /// 0 static, 1 global, 2 extern.
        linkage: u16,
    },
    FuncProto {
        ret: TypeId,
        params: Params<'a>,
    },
    Var {
        name: &'a str,
        ty: TypeId,
        linkage: u32,
    },
    Datasec {
        name: &'a str,
        size: u32,
        vars: SecVars<'a>,
    },
    Float {
        name: &'a str,
        size: u32,
    },
    DeclTag {
        name: &'a str,
        to: TypeId,
        /// -1 for the type itself, else the member or parameter index.
        component: i32,
    },
}

impl<'a> Type<'a> {
    /// The record's own name ("" for anonymous types and kinds without one).
    pub fn name(&self) -> &'a str {
        match self {
            Type::Int { name, .. }
            | Type::Fwd { name, .. }
            | Type::Typedef { name, .. }
            | Type::TypeTag { name, .. }
            | Type::Func { name, .. }
            | Type::Var { name, .. }
            | Type::Datasec { name, .. }
            | Type::Float { name, .. }
            | Type::DeclTag { name, .. } => name,
            Type::Struct(c) | Type::Union(c) => c.name,
            Type::Enum(e) | Type::Enum64(e) => e.name,
            _ => "",
        }
    }

    /// The struct or union behind this view, if it is one.
    pub fn composite(&self) -> Option<&Composite<'a>> {
        match self {
            Type::Struct(c) | Type::Union(c) => Some(c),
            _ => None,
        }
    }
}

/// A struct or union.
#[derive(Debug, Clone)]
pub struct Composite<'a> {
    pub name: &'a str,
    pub size: u32,
    pub members: Members<'a>,
}

/// An enum (32- or 64-bit values).
#[derive(Debug, Clone)]
pub struct EnumType<'a> {
    pub name: &'a str,
    pub size: u32,
    pub signed: bool,
    pub values: Enumerators<'a>,
}

/// One struct or union member, offsets relative to its own struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    pub name: &'a str,
    pub ty: TypeId,
    pub bit_offset: u32,
    /// Width of a bitfield in bits; 0 for ordinary members.
    pub bitfield_size: u8,
}

/// One enumerator. `value` is sign-extended for signed enums and zero-extended otherwise, so
/// unsigned 64-bit values above `i64::MAX` appear negative (compare bit patterns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enumerator<'a> {
    pub name: &'a str,
    pub value: i64,
}

/// One function parameter; the name is "" when BTF does not record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    pub name: &'a str,
    pub ty: TypeId,
}

/// One variable of a data section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecVar {
    pub ty: TypeId,
    pub offset: u32,
    pub size: u32,
}

/// Fixed-size entries after a record header, walked without allocating.
#[derive(Debug, Clone)]
struct Entries<'a> {
    btf: &'a Btf,
    off: usize,
    left: usize,
    stride: usize,
}

impl<'a> Entries<'a> {
    fn new(btf: &'a Btf, off: usize, count: usize, stride: usize) -> Self {
        Entries {
            btf,
            off,
            left: count,
            stride,
        }
    }

    /// Offset of the next entry and its three leading words (missing words read as 0).
    fn next_words(&mut self) -> Option<[u32; 3]> {
        if self.left == 0 {
            return None;
        }
        let at = self.off;
        self.off += self.stride;
        self.left -= 1;
        let word = |i: usize| {
            if i * 4 < self.stride {
                self.btf.u32_at(at + i * 4)
            } else {
                0
            }
        };
        Some([word(0), word(1), word(2)])
    }
}

macro_rules! exact_size {
    ($name:ident) => {
        impl ExactSizeIterator for $name<'_> {}
    };
}

/// Members of a struct or union.
#[derive(Debug, Clone)]
pub struct Members<'a> {
    entries: Entries<'a>,
    /// `kind_flag` set: the offset word packs bitfield size (high 8) and bit offset (low 24).
    packed_bitfields: bool,
}

impl<'a> Iterator for Members<'a> {
    type Item = Member<'a>;
    fn next(&mut self) -> Option<Member<'a>> {
        let [name_off, ty, offset] = self.entries.next_words()?;
        let (bit_offset, bitfield_size) = if self.packed_bitfields {
            (offset & 0x00ff_ffff, (offset >> 24) as u8)
        } else {
            (offset, 0)
        };
        Some(Member {
            name: self.entries.btf.str_at(name_off),
            ty,
            bit_offset,
            bitfield_size,
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.entries.left, Some(self.entries.left))
    }
}
exact_size!(Members);

/// Enumerators of an enum.
#[derive(Debug, Clone)]
pub struct Enumerators<'a> {
    entries: Entries<'a>,
    signed: bool,
    wide: bool,
}

impl<'a> Iterator for Enumerators<'a> {
    type Item = Enumerator<'a>;
    fn next(&mut self) -> Option<Enumerator<'a>> {
        let [name_off, lo, hi] = self.entries.next_words()?;
        let value = match (self.wide, self.signed) {
            (true, _) => ((u64::from(hi) << 32) | u64::from(lo)) as i64,
            (false, true) => i64::from(lo as i32),
            (false, false) => i64::from(lo),
        };
        Some(Enumerator {
            name: self.entries.btf.str_at(name_off),
            value,
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.entries.left, Some(self.entries.left))
    }
}
exact_size!(Enumerators);

/// Parameters of a function prototype (a variadic `...` shows as a last entry with no name and
/// type 0).
#[derive(Debug, Clone)]
pub struct Params<'a> {
    entries: Entries<'a>,
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;
    fn next(&mut self) -> Option<Param<'a>> {
        let [name_off, ty, _] = self.entries.next_words()?;
        Some(Param {
            name: self.entries.btf.str_at(name_off),
            ty,
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.entries.left, Some(self.entries.left))
    }
}
exact_size!(Params);

/// Variables of a data section.
#[derive(Debug, Clone)]
pub struct SecVars<'a> {
    entries: Entries<'a>,
}

impl Iterator for SecVars<'_> {
    type Item = SecVar;
    fn next(&mut self) -> Option<SecVar> {
        let [ty, offset, size] = self.entries.next_words()?;
        Some(SecVar { ty, offset, size })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.entries.left, Some(self.entries.left))
    }
}

impl ExactSizeIterator for SecVars<'_> {}

/// The 12-byte header every record starts with.
#[derive(Debug, Clone, Copy)]
pub(super) struct RecordHeader {
    pub name_off: u32,
    pub info: u32,
    /// `size` for sized kinds, the referenced type id for the others.
    pub size_or_type: u32,
}

impl RecordHeader {
    pub fn read(btf: &Btf, off: usize) -> Self {
        RecordHeader {
            name_off: btf.u32_at(off),
            info: btf.u32_at(off + 4),
            size_or_type: btf.u32_at(off + 8),
        }
    }
    pub fn kind(self) -> Option<Kind> {
        Kind::from_record(((self.info >> 24) & 0x1f) as u8)
    }
    pub fn vlen(self) -> usize {
        (self.info & 0xffff) as usize
    }
    pub fn kind_flag(self) -> bool {
        self.info >> 31 == 1
    }
}

const HEADER: usize = 12;

/// Decodes the record at byte `off` of `btf` (the part that owns it).
pub(super) fn decode(btf: &Btf, off: usize) -> Type<'_> {
    let head = RecordHeader::read(btf, off);
    let name = btf.str_at(head.name_off);
    let to = head.size_or_type;
    let size = head.size_or_type;
    let body = off + HEADER;
    let vlen = head.vlen();
    let Some(kind) = head.kind() else {
        return Type::Void;
    };
    match kind {
        Kind::Void => Type::Void,
        Kind::Int => decode_int(name, size, btf.u32_at(body)),
        Kind::Ptr => Type::Ptr { to },
        Kind::Array => Type::Array {
            elem: btf.u32_at(body),
            index: btf.u32_at(body + 4),
            len: btf.u32_at(body + 8),
        },
        Kind::Struct | Kind::Union => {
            let composite = Composite {
                name,
                size,
                members: Members {
                    entries: Entries::new(btf, body, vlen, 12),
                    packed_bitfields: head.kind_flag(),
                },
            };
            if kind == Kind::Struct {
                Type::Struct(composite)
            } else {
                Type::Union(composite)
            }
        }
        Kind::Enum | Kind::Enum64 => {
            let wide = kind == Kind::Enum64;
            let stride = if wide { 12 } else { 8 };
            let values = Enumerators {
                entries: Entries::new(btf, body, vlen, stride),
                signed: head.kind_flag(),
                wide,
            };
            let enum_type = EnumType {
                name,
                size,
                signed: head.kind_flag(),
                values,
            };
            if wide {
                Type::Enum64(enum_type)
            } else {
                Type::Enum(enum_type)
            }
        }
        Kind::Fwd => Type::Fwd {
            name,
            is_union: head.kind_flag(),
        },
        Kind::Typedef => Type::Typedef { name, to },
        Kind::Volatile => Type::Volatile { to },
        Kind::Const => Type::Const { to },
        Kind::Restrict => Type::Restrict { to },
        Kind::TypeTag => Type::TypeTag { name, to },
        Kind::Func => Type::Func {
            name,
            proto: to,
            linkage: vlen as u16,
        },
        Kind::FuncProto => Type::FuncProto {
            ret: to,
            params: Params {
                entries: Entries::new(btf, body, vlen, 8),
            },
        },
        Kind::Var => Type::Var {
            name,
            ty: to,
            linkage: btf.u32_at(body),
        },
        Kind::Datasec => Type::Datasec {
            name,
            size,
            vars: SecVars {
                entries: Entries::new(btf, body, vlen, 12),
            },
        },
        Kind::Float => Type::Float { name, size },
        Kind::DeclTag => Type::DeclTag {
            name,
            to,
            component: btf.u32_at(body) as i32,
        },
    }
}

/// `BTF_KIND_INT` data word: encoding bits 24..28, offset bits 16..24, width bits 0..8.
fn decode_int(name: &str, size: u32, word: u32) -> Type<'_> {
    let encoding = (word >> 24) & 0x0f;
    Type::Int {
        name,
        size,
        signed: encoding & 1 != 0,
        is_char: encoding & 2 != 0,
        is_bool: encoding & 4 != 0,
        bits: (word & 0xff) as u8,
        offset: ((word >> 16) & 0xff) as u8,
    }
}
