//! Struct and union members by path (`a.b.c`), walking through anonymous members the way C
//! lets them be named directly, with offsets from the outermost struct and bitfield widths.

use std::fmt;

use super::types::{Member, Type};
use super::{Btf, TypeId, MAX_CHAIN};

/// Where a member lies, relative to the start of the struct the lookup began at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberInfo {
    /// The member's declared type (typedefs not resolved).
    pub ty: TypeId,
    /// Byte holding the first bit of the member.
    pub offset: u32,
    /// Offset in bits.
    pub bit_offset: u32,
    /// Width of a bitfield in bits; 0 for ordinary members.
    pub bitfield_size: u8,
}

impl MemberInfo {
    pub fn is_bitfield(&self) -> bool {
        self.bitfield_size != 0
    }
}

/// A member reachable by a plain name from a struct (anonymous members flattened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlatMember<'a> {
    pub name: &'a str,
    pub info: MemberInfo,
}

/// Why a member lookup failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BtfError {
    /// The type id does not exist (or a typedef chain is cyclic).
    UnknownType(TypeId),
    /// `.` applied to something that is not a struct or union (its C name).
    NotComposite(String),
    /// The struct or union (its C name) has no member of that name.
    NoMember { ty: String, member: String },
    /// Anonymous members nested deeper than any sane data (or cyclic).
    TooDeep,
    /// An offset does not fit in 32 bits.
    Overflow,
}

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BtfError::UnknownType(id) => write!(f, "unknown BTF type id {id}"),
            BtfError::NotComposite(ty) => write!(f, "{ty} is not a struct or union"),
            BtfError::NoMember { ty, member } => write!(f, "{ty} has no member named {member}"),
            BtfError::TooDeep => write!(f, "BTF types nested too deeply"),
            BtfError::Overflow => write!(f, "member offset overflows"),
        }
    }
}

impl std::error::Error for BtfError {}

/// A member found while searching, offsets relative to the composite searched.
struct Found {
    ty: TypeId,
    bit_offset: u32,
    bitfield_size: u8,
}

impl Btf {
    /// The member at `path` (dot-separated names) of struct or union `id` (typedefs resolved
    /// at each step), e.g. `member(sock, "__sk_common.skc_dport")`. Array indexing and
    /// pointers are the caller's business: every step must be a struct or union.
    pub fn member(&self, id: TypeId, path: &str) -> Result<MemberInfo, BtfError> {
        let mut ty = id;
        let mut bit_offset = 0u32;
        let mut bitfield_size = 0;
        for name in path.split('.') {
            let found = self.direct_or_anonymous(ty, name)?;
            bit_offset = bit_offset
                .checked_add(found.bit_offset)
                .ok_or(BtfError::Overflow)?;
            ty = found.ty;
            bitfield_size = found.bitfield_size;
        }
        Ok(MemberInfo {
            ty,
            offset: bit_offset / 8,
            bit_offset,
            bitfield_size,
        })
    }

    /// Members of struct or union `id` reachable by a plain name, in declaration order, with
    /// anonymous structs and unions flattened into their parent.
    pub fn members(&self, id: TypeId) -> Result<Vec<FlatMember<'_>>, BtfError> {
        let mut out = Vec::new();
        self.flatten_into(id, 0, 0, &mut out)?;
        Ok(out)
    }

    fn flatten_into<'a>(
        &'a self,
        id: TypeId,
        base_bits: u32,
        depth: usize,
        out: &mut Vec<FlatMember<'a>>,
    ) -> Result<(), BtfError> {
        if depth > MAX_CHAIN {
            return Err(BtfError::TooDeep);
        }
        for member in self.composite_members(id)? {
            let bit_offset = base_bits
                .checked_add(member.bit_offset)
                .ok_or(BtfError::Overflow)?;
            if member.name.is_empty() {
                if self.is_composite(member.ty) {
                    self.flatten_into(member.ty, bit_offset, depth + 1, out)?;
                }
                continue;
            }
            let found = self.with_int_bitfield(&member, bit_offset);
            out.push(FlatMember {
                name: member.name,
                info: MemberInfo {
                    ty: found.ty,
                    offset: found.bit_offset / 8,
                    bit_offset: found.bit_offset,
                    bitfield_size: found.bitfield_size,
                },
            });
        }
        Ok(())
    }

    /// Finds `name` among the members of `id`, searching anonymous members depth-first.
    fn direct_or_anonymous(&self, id: TypeId, name: &str) -> Result<Found, BtfError> {
        // An empty name would match the first anonymous member.
        let found = match name {
            "" => None,
            _ => self.search(id, name, 0)?,
        };
        match found {
            Some(found) => Ok(found),
            None => Err(BtfError::NoMember {
                ty: self.type_name(id),
                member: name.to_string(),
            }),
        }
    }

    fn search(&self, id: TypeId, name: &str, depth: usize) -> Result<Option<Found>, BtfError> {
        if depth > MAX_CHAIN {
            return Err(BtfError::TooDeep);
        }
        for member in self.composite_members(id)? {
            if member.name == name {
                return Ok(Some(self.with_int_bitfield(&member, member.bit_offset)));
            }
            if member.name.is_empty() && self.is_composite(member.ty) {
                if let Some(inner) = self.search(member.ty, name, depth + 1)? {
                    let bit_offset = inner
                        .bit_offset
                        .checked_add(member.bit_offset)
                        .ok_or(BtfError::Overflow)?;
                    return Ok(Some(Found {
                        bit_offset,
                        ..inner
                    }));
                }
            }
        }
        Ok(None)
    }

    /// The members of struct or union `id` after resolving typedefs and qualifiers.
    fn composite_members(&self, id: TypeId) -> Result<super::Members<'_>, BtfError> {
        let resolved = self.resolve(id).ok_or(BtfError::UnknownType(id))?;
        match self.get(resolved) {
            Some(Type::Struct(c)) | Some(Type::Union(c)) => Ok(c.members),
            Some(_) => Err(BtfError::NotComposite(self.type_name(id))),
            None => Err(BtfError::UnknownType(resolved)),
        }
    }

    fn is_composite(&self, id: TypeId) -> bool {
        let resolved = self.resolve(id).and_then(|r| self.get(r));
        resolved.is_some_and(|t| t.composite().is_some())
    }

    /// Applies the old bitfield encoding (no `kind_flag`: an int type narrower than its
    /// storage, or with a bit offset) on top of the member's own position.
    fn with_int_bitfield(&self, member: &Member<'_>, bit_offset: u32) -> Found {
        let plain = Found {
            ty: member.ty,
            bit_offset,
            bitfield_size: member.bitfield_size,
        };
        if member.bitfield_size != 0 {
            return plain;
        }
        let int = self.resolve(member.ty).and_then(|id| self.get(id));
        match int {
            Some(Type::Int {
                size, bits, offset, ..
            }) if u32::from(bits) != size.saturating_mul(8) || offset != 0 => Found {
                bit_offset: bit_offset.saturating_add(u32::from(offset)),
                bitfield_size: bits,
                ..plain
            },
            _ => plain,
        }
    }
}
