//! Writing BTF: the types a script defines in C (`struct cfs_rq { … };`) are encoded as
//! split BTF on top of vmlinux, so the rest of the compiler reads them exactly like kernel
//! types. Only the record kinds C definitions need are written.

use super::{Btf, TypeId};
use std::collections::HashMap;

const MAGIC: u16 = 0xEB9F;
const VERSION: u8 = 1;
const HEADER_LEN: u32 = 24;

/// Record kinds (kernel `include/uapi/linux/btf.h`).
const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;

/// `BTF_INT_SIGNED` / `BTF_INT_CHAR` in an int record's encoding byte.
const INT_SIGNED: u32 = 1;
const INT_CHAR: u32 = 2;

/// A struct or union member: bit offset, and width when it is a bitfield.
#[derive(Clone, Debug)]
pub struct MemberSpec {
    pub name: String,
    pub ty: TypeId,
    pub bit_offset: u32,
    pub bitfield_size: Option<u8>,
}

/// Builds the type and string sections of a split BTF part.
pub struct BtfWriter {
    next_id: TypeId,
    str_base: u32,
    types: Vec<u8>,
    strings: Vec<u8>,
    string_offsets: HashMap<String, u32>,
}

impl BtfWriter {
    /// A writer whose ids and string offsets continue after `base`'s.
    pub fn split_on(base: &Btf) -> BtfWriter {
        BtfWriter {
            next_id: base.end_id(),
            str_base: base.str_end(),
            types: Vec::new(),
            // A split part's strings may start with anything; an empty string first keeps
            // offset arithmetic simple for readers that expect one.
            strings: vec![0],
            string_offsets: HashMap::new(),
        }
    }

    /// The id the next record will get.
    pub fn next_id(&self) -> TypeId {
        self.next_id
    }

    fn string(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        if let Some(&off) = self.string_offsets.get(s) {
            return off;
        }
        let off = self.str_base + self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        self.string_offsets.insert(s.to_string(), off);
        off
    }

    fn record(
        &mut self,
        name: &str,
        kind: u32,
        vlen: u32,
        kflag: bool,
        size_or_type: u32,
    ) -> TypeId {
        let name_off = self.string(name);
        let info = (u32::from(kflag) << 31) | (kind << 24) | (vlen & 0xffff);
        for word in [name_off, info, size_or_type] {
            self.types.extend_from_slice(&word.to_le_bytes());
        }
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn words(&mut self, words: &[u32]) {
        for w in words {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
    }

    /// An integer of `size` bytes.
    pub fn int(&mut self, name: &str, size: u32, signed: bool, is_char: bool) -> TypeId {
        let id = self.record(name, KIND_INT, 0, false, size);
        let encoding = if is_char { INT_CHAR } else { 0 } | if signed { INT_SIGNED } else { 0 };
        self.words(&[(encoding << 24) | (size * 8)]);
        id
    }

    pub fn pointer(&mut self, to: TypeId) -> TypeId {
        self.record("", KIND_PTR, 0, false, to)
    }

    /// `elem[len]`; `index` is any integer type id.
    pub fn array(&mut self, elem: TypeId, index: TypeId, len: u32) -> TypeId {
        let id = self.record("", KIND_ARRAY, 0, false, 0);
        self.words(&[elem, index, len]);
        id
    }

    /// A forward declaration (`struct name;`): usable behind a pointer only.
    pub fn forward(&mut self, name: &str, union: bool) -> TypeId {
        self.record(name, KIND_FWD, 0, union, 0)
    }

    pub fn typedef(&mut self, name: &str, to: TypeId) -> TypeId {
        self.record(name, KIND_TYPEDEF, 0, false, to)
    }

    /// A 4-byte enum with its enumerators.
    pub fn enumeration(&mut self, name: &str, values: &[(String, i64)]) -> TypeId {
        let id = self.record(name, KIND_ENUM, values.len() as u32, false, 4);
        for (n, v) in values {
            let off = self.string(n);
            self.words(&[off, *v as u32]);
        }
        id
    }

    /// A struct (or union) of `size` bytes; offsets are in bits.
    pub fn record_type(
        &mut self,
        name: &str,
        union: bool,
        size: u32,
        members: &[MemberSpec],
    ) -> TypeId {
        let kflag = members.iter().any(|m| m.bitfield_size.is_some());
        let kind = if union { KIND_UNION } else { KIND_STRUCT };
        let id = self.record(name, kind, members.len() as u32, kflag, size);
        for m in members {
            let off = self.string(&m.name);
            let offset = match (kflag, m.bitfield_size) {
                (true, Some(bits)) => (u32::from(bits) << 24) | m.bit_offset,
                _ => m.bit_offset,
            };
            self.words(&[off, m.ty, offset]);
        }
        id
    }

    /// The finished BTF bytes (header, types, strings).
    pub fn finish(self) -> Vec<u8> {
        let type_len = self.types.len() as u32;
        let str_len = self.strings.len() as u32;
        let mut out =
            Vec::with_capacity(HEADER_LEN as usize + self.types.len() + self.strings.len());
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.push(VERSION);
        out.push(0); // flags
        for word in [HEADER_LEN, 0, type_len, type_len, str_len] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}
