//! A small, fast reader of the kernel's BTF type information (`/sys/kernel/btf/*`), which
//! types kernel data for the checker without kernel headers or clang.
//!
//! Loading only validates the file and notes where each type record starts (one pass, about a
//! millisecond for vmlinux); name lookups build a per-kind hash index on first use. Module BTF
//! is "split" BTF: its type ids and string offsets continue after those of vmlinux, so a
//! module [`Btf`] keeps its base and answers for both.
//!
//! Malformed input never panics: loading fails with `InvalidData`, lookups return `None` or a
//! [`BtfError`], and reference chains are followed a bounded number of steps.

mod bytes;
mod enums;
mod funcs;
mod index;
mod layout;
mod lookup;
mod member;
mod render;
mod strings;
mod types;
pub mod writer;

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use index::NameIndex;
use types::RecordHeader;

pub use funcs::Signature;
pub use member::{BtfError, FlatMember, MemberInfo};
pub use types::{
    Composite, EnumType, Enumerator, Enumerators, Kind, Member, Members, Param, Params, SecVar,
    SecVars, Type,
};

/// A BTF type id; 0 is `void`.
pub type TypeId = u32;

/// Size of a kernel pointer (BTF does not record it; rtrace targets 64-bit kernels).
pub const POINTER_SIZE: u64 = 8;

const SYSFS_DIR: &str = "/sys/kernel/btf";

/// Typedef/qualifier hops (and array nesting) followed before the data is deemed cyclic.
const MAX_CHAIN: usize = 64;

/// Parsed BTF: vmlinux, or a module's split BTF on top of it.
pub struct Btf {
    data: Bytes,
    big_endian: bool,
    strings: Range<usize>,
    /// Byte offset of each own record, indexed by `id - first_id`.
    offsets: Vec<u32>,
    /// [`Kind`] of each own record, same indexing.
    kinds: Vec<u8>,
    /// Id of the first own record (1, or one past the base's last id).
    first_id: TypeId,
    /// String offsets below this belong to the base.
    str_base: u32,
    base: Option<Arc<Btf>>,
    by_name: [OnceLock<NameIndex>; Kind::COUNT],
}

impl Btf {
    /// Maps (or reads) and parses `/sys/kernel/btf/vmlinux`.
    pub fn load_vmlinux() -> io::Result<Btf> {
        let bytes = Bytes::map_or_read(&Path::new(SYSFS_DIR).join("vmlinux"))?;
        Self::from_bytes(bytes, None)
    }

    /// Reads and parses a standalone BTF file.
    pub fn load_file(path: impl AsRef<Path>) -> io::Result<Btf> {
        Self::from_bytes(Bytes::Owned(std::fs::read(path)?), None)
    }

    /// Reads `/sys/kernel/btf/<module>` as split BTF on top of `vmlinux`.
    pub fn load_module(module: &str, vmlinux: Arc<Btf>) -> io::Result<Btf> {
        if module.is_empty() || module.contains('/') || module.starts_with('.') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad module name {module:?}"),
            ));
        }
        let data = std::fs::read(Path::new(SYSFS_DIR).join(module))?;
        Self::from_bytes(Bytes::Owned(data), Some(vmlinux))
    }

    /// Names of the modules that have BTF loaded (`/sys/kernel/btf/*` except vmlinux), sorted.
    pub fn module_names() -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(SYSFS_DIR)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name != "vmlinux" {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Parses standalone BTF (copies `data`).
    pub fn parse(data: &[u8]) -> io::Result<Btf> {
        Self::from_bytes(Bytes::Owned(data.to_vec()), None)
    }

    /// Parses split BTF whose ids and strings continue after `base`'s (copies `data`).
    pub fn parse_split(data: &[u8], base: Arc<Btf>) -> io::Result<Btf> {
        Self::from_bytes(Bytes::Owned(data.to_vec()), Some(base))
    }

    fn from_bytes(data: Bytes, base: Option<Arc<Btf>>) -> io::Result<Btf> {
        let layout = layout::parse_header(&data)?;
        let records = layout::index_records(&data, &layout)?;
        let (first_id, str_base) = match &base {
            Some(base) => (base.end_id(), base.str_end()),
            None => (1, 0),
        };
        let own_count = u32::try_from(records.offsets.len()).unwrap_or(u32::MAX);
        if first_id.checked_add(own_count).is_none() {
            return Err(layout::invalid("too many types"));
        }
        Ok(Btf {
            data,
            big_endian: layout.big_endian,
            strings: layout.strings,
            offsets: records.offsets,
            kinds: records.kinds,
            first_id,
            str_base,
            base,
            by_name: [const { OnceLock::new() }; Kind::COUNT],
        })
    }

    /// The BTF this one is split from, if any.
    pub fn base(&self) -> Option<&Arc<Btf>> {
        self.base.as_ref()
    }

    /// First id of this part's own types (1 for vmlinux).
    pub fn first_id(&self) -> TypeId {
        self.first_id
    }

    /// One past the highest valid type id.
    pub fn end_id(&self) -> TypeId {
        self.first_id + self.offsets.len() as TypeId
    }

    /// One past the last string offset of this part (where a split part's strings start).
    fn str_end(&self) -> u32 {
        self.str_base.saturating_add(self.strings.len() as u32)
    }

    /// Reads a u32 of this part's data; 0 past the end (records are validated at load, so
    /// that only happens on logic errors, never on input).
    fn u32_at(&self, off: usize) -> u32 {
        layout::read_u32(&self.data, off, self.big_endian).unwrap_or(0)
    }

    /// The NUL-terminated string at `off` of the combined string table; "" if invalid.
    fn str_at(&self, off: u32) -> &str {
        std::str::from_utf8(strings::cstr(self.string_tail(off))).unwrap_or("")
    }

    /// The string section from offset `off` of the combined string table to its end.
    fn string_tail(&self, off: u32) -> &[u8] {
        if off < self.str_base {
            return self.base.as_ref().map_or(&[], |base| base.string_tail(off));
        }
        let start = self
            .strings
            .start
            .saturating_add((off - self.str_base) as usize);
        self.data.get(start..self.strings.end).unwrap_or(&[])
    }

    /// Own name bytes of `id` (not UTF-8 checked) and their hash, for the name index.
    fn name_with_hash(&self, id: TypeId) -> (&[u8], u32) {
        let name_off = self.header(id).map_or(0, |h| h.name_off);
        strings::cstr_with_hash(self.string_tail(name_off))
    }

    /// This part's own ids whose kind satisfies `wanted`, in order.
    fn own_ids<'a>(
        &'a self,
        wanted: impl Fn(Kind) -> bool + 'a,
    ) -> impl Iterator<Item = TypeId> + 'a {
        let first = self.first_id;
        let kinds = self.kinds.iter().enumerate();
        kinds
            .filter(move |(_, &raw)| Kind::from_record(raw).is_some_and(&wanted))
            .map(move |(local, _)| first + local as TypeId)
    }

    /// All ids, base first, whose kind satisfies `wanted`.
    fn ids_where(&self, wanted: &dyn Fn(Kind) -> bool) -> Vec<TypeId> {
        let mut out = match &self.base {
            Some(base) => base.ids_where(wanted),
            None => Vec::new(),
        };
        out.extend(self.own_ids(wanted));
        out
    }

    /// The part that owns `id` and the byte offset of its record.
    fn locate(&self, id: TypeId) -> Option<(&Btf, usize)> {
        if id < self.first_id {
            return self.base.as_ref()?.locate(id);
        }
        let off = *self.offsets.get((id - self.first_id) as usize)?;
        Some((self, off as usize))
    }

    fn header(&self, id: TypeId) -> Option<RecordHeader> {
        let (part, off) = self.locate(id)?;
        Some(RecordHeader::read(part, off))
    }

    /// Kind of `id` (`Void` for 0); `None` if no such type.
    pub fn kind(&self, id: TypeId) -> Option<Kind> {
        if id == 0 {
            return Some(Kind::Void);
        }
        if id < self.first_id {
            return self.base.as_ref()?.kind(id);
        }
        let raw = *self.kinds.get((id - self.first_id) as usize)?;
        Kind::from_record(raw)
    }

    /// The decoded record of `id` (`Type::Void` for 0); `None` if no such type.
    pub fn get(&self, id: TypeId) -> Option<Type<'_>> {
        if id == 0 {
            return Some(Type::Void);
        }
        let (part, off) = self.locate(id)?;
        Some(types::decode(part, off))
    }

    /// Own name of `id` ("" if anonymous or unknown).
    pub fn name(&self, id: TypeId) -> &str {
        match self.locate(id) {
            Some((part, off)) => part.str_at(part.u32_at(off)),
            None => "",
        }
    }

    /// Skips typedefs and qualifiers (const, volatile, restrict, type tags) to the underlying
    /// type; `None` for unknown ids or cycles.
    pub fn resolve(&self, id: TypeId) -> Option<TypeId> {
        self.skip_aliases(id, |kind| kind.is_alias())
    }

    /// Skips qualifiers only, keeping typedef names (for display).
    pub fn skip_qualifiers(&self, id: TypeId) -> Option<TypeId> {
        self.skip_aliases(id, |kind| kind.is_alias() && kind != Kind::Typedef)
    }

    fn skip_aliases(&self, mut id: TypeId, skip: impl Fn(Kind) -> bool) -> Option<TypeId> {
        for _ in 0..MAX_CHAIN {
            if id == 0 {
                return Some(0);
            }
            let head = self.header(id)?;
            if !skip(head.kind()?) {
                return Some(id);
            }
            id = head.size_or_type;
        }
        None
    }

    /// Size in bytes of a value of type `id`; `None` for void, functions, forward declarations,
    /// unknown ids and cycles.
    pub fn size_of(&self, id: TypeId) -> Option<u64> {
        let mut id = id;
        let mut count = 1u64;
        for _ in 0..MAX_CHAIN {
            id = self.resolve(id)?;
            let head = self.header(id)?;
            match head.kind()? {
                Kind::Int
                | Kind::Struct
                | Kind::Union
                | Kind::Enum
                | Kind::Enum64
                | Kind::Float
                | Kind::Datasec => return count.checked_mul(u64::from(head.size_or_type)),
                Kind::Ptr => return count.checked_mul(POINTER_SIZE),
                Kind::Var => id = head.size_or_type,
                Kind::Array => {
                    let Type::Array { elem, len, .. } = self.get(id)? else {
                        return None;
                    };
                    count = count.checked_mul(u64::from(len))?;
                    id = elem;
                }
                _ => return None,
            }
        }
        None
    }
}

impl fmt::Debug for Btf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Btf")
            .field("bytes", &self.data.len())
            .field("ids", &(self.first_id..self.end_id()))
            .field("split", &self.base.is_some())
            .finish()
    }
}
