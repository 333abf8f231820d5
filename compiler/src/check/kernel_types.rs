//! Kernel types as the checker sees them: the running kernel's BTF plus the few
//! types a script makes up itself (`(uint32 *)p`, `(struct sock **)p`), all named
//! by one `u32` handle. `Type::Ptr { pointee, .. }` carries such a handle, so a
//! pointer keeps its target type through variables and maps.
//!
//! Handles below [`SYNTH_BASE`] are BTF type ids (0 is `void`); handles from
//! `SYNTH_BASE` up index the made-up types, interned so that both checker passes
//! hand out the same handle for the same type.

use crate::btf::{self, Btf, BtfError, Kind, MemberInfo, TypeId};
use rtrace_stdlib::catalogue::edit_distance;
use rtrace_stdlib::types::EnumDef;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// A kernel type: a BTF id or a made-up type.
pub type Handle = u32;

/// `void`, the target of `void *` and of `kptr(int)`.
pub const VOID: Handle = 0;

/// First handle of the made-up types (far above any BTF id).
const SYNTH_BASE: Handle = 0x4000_0000;

/// A type a script names that BTF may not have in that exact shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Synth {
    Int { size: u8, signed: bool },
    Ptr { to: Handle },
}

/// What the checker needs to know about a type, typedefs and qualifiers skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KType {
    Void,
    /// `is_char`: a plain `char`, whose arrays are strings.
    Int {
        size: u32,
        signed: bool,
        is_char: bool,
    },
    Enum {
        id: TypeId,
        size: u32,
        signed: bool,
    },
    /// `user`: the pointee carries the `__user` type tag.
    Ptr {
        to: Handle,
        user: bool,
    },
    Array {
        elem: Handle,
        len: u32,
    },
    /// A complete struct or union.
    Record {
        id: TypeId,
        size: u32,
    },
    Func,
    Float,
    /// A forward declaration BTF has no definition for, or a bad id.
    Unknown,
}

/// The kernel's BTF, read once per process (`None` when the kernel has none).
fn vmlinux() -> Option<Arc<Btf>> {
    static VMLINUX: OnceLock<Option<Arc<Btf>>> = OnceLock::new();
    VMLINUX
        .get_or_init(|| Btf::load_vmlinux().ok().map(Arc::new))
        .clone()
}

/// Kernel types for one compilation.
#[derive(Default)]
pub struct KernelTypes {
    btf: Option<Arc<Btf>>,
    tried: bool,
    synth: Vec<Synth>,
    synth_ids: HashMap<Synth, Handle>,
    enums: HashMap<TypeId, Arc<EnumDef>>,
}

impl KernelTypes {
    /// Kernel types over the running kernel's BTF, loaded on first use.
    pub fn new() -> KernelTypes {
        KernelTypes::default()
    }

    /// Kernel types plus the types a script defines in C, which shadow the kernel's.
    pub fn with_script_types(
        defs: &[crate::ast::CDefinition],
    ) -> Result<KernelTypes, crate::diag::Diagnostic> {
        let mut types = KernelTypes::new();
        if defs.iter().all(|d| d.text.trim_start().starts_with('#')) {
            return Ok(types);
        }
        let Some(base) = vmlinux() else {
            return Ok(types);
        };
        if let Some(split) = super::c_definitions::compile(defs, &base)? {
            types.btf = Some(Arc::new(split));
            types.tried = true;
        }
        Ok(types)
    }

    /// The BTF, if the kernel has one.
    pub fn btf(&mut self) -> Option<&Btf> {
        if !self.tried {
            self.tried = true;
            self.btf = vmlinux();
        }
        self.btf.as_deref()
    }

    /// Whether kernel BTF is available (loading it if needed).
    pub fn available(&mut self) -> bool {
        self.btf().is_some()
    }

    fn synth_of(&self, h: Handle) -> Option<Synth> {
        h.checked_sub(SYNTH_BASE)
            .and_then(|i| self.synth.get(i as usize).copied())
    }

    fn intern(&mut self, s: Synth) -> Handle {
        if let Some(&h) = self.synth_ids.get(&s) {
            return h;
        }
        let h = SYNTH_BASE + self.synth.len() as Handle;
        self.synth.push(s);
        self.synth_ids.insert(s, h);
        h
    }

    /// An integer type of `size` bytes.
    pub fn int(&mut self, size: u8, signed: bool) -> Handle {
        self.intern(Synth::Int { size, signed })
    }

    /// A pointer to `to`.
    pub fn pointer_to(&mut self, to: Handle) -> Handle {
        self.intern(Synth::Ptr { to })
    }

    /// The shape of `h`, typedefs and qualifiers skipped.
    pub fn view(&mut self, h: Handle) -> KType {
        match self.synth_of(h) {
            Some(Synth::Int { size, signed }) => {
                return KType::Int {
                    size: u32::from(size),
                    signed,
                    is_char: false,
                }
            }
            Some(Synth::Ptr { to }) => return KType::Ptr { to, user: false },
            None if h >= SYNTH_BASE => return KType::Unknown,
            None => {}
        }
        match self.btf() {
            Some(btf) => view_btf(btf, h),
            None if h == VOID => KType::Void,
            None => KType::Unknown,
        }
    }

    /// Size in bytes of a value of type `h`.
    pub fn size_of(&mut self, h: Handle) -> Option<u64> {
        match self.view(h) {
            KType::Int { size, .. } | KType::Enum { size, .. } | KType::Record { size, .. } => {
                Some(u64::from(size))
            }
            KType::Ptr { .. } => Some(btf::POINTER_SIZE),
            KType::Array { elem, len } => self.size_of(elem)?.checked_mul(u64::from(len)),
            KType::Float => self.btf()?.size_of(h),
            KType::Void | KType::Func | KType::Unknown => None,
        }
    }

    /// The C spelling of `h`, e.g. `struct sock *`.
    pub fn name(&mut self, h: Handle) -> String {
        match self.synth_of(h) {
            Some(Synth::Int { size, signed }) => {
                format!("{}int{}", if signed { "" } else { "u" }, size * 8)
            }
            Some(Synth::Ptr { to }) => {
                let inner = self.name(to);
                if inner.ends_with('*') {
                    format!("{inner}*")
                } else {
                    format!("{inner} *")
                }
            }
            None => match self.btf() {
                Some(btf) => btf.type_name(h),
                None => "void".to_string(),
            },
        }
    }

    /// `struct name` (or `union name`): the complete definition's id.
    pub fn find_record(&mut self, union: bool, name: &str) -> Option<TypeId> {
        let btf = self.btf()?;
        let id = if union {
            btf.find_union(name)
        } else {
            btf.find_struct(name)
        }?;
        matches!(view_btf(btf, id), KType::Record { .. }).then_some(id)
    }

    /// A type by the name a script writes after `(` or `sizeof(`: `struct sock`,
    /// `union x`, `enum y`, a typedef (`pid_t`) or a BTF base type (`unsigned int`).
    /// Integer names such as `uint32` are the checker's own and not handled here.
    pub fn lookup(&mut self, name: &str) -> Result<Handle, LookupError> {
        if name == "void" {
            return Ok(VOID);
        }
        let Some(btf) = self.btf() else {
            return Err(LookupError::NoBtf);
        };
        let (tag, bare) = match name.split_once(' ') {
            Some((t @ ("struct" | "union" | "enum"), rest)) => (t, rest.trim()),
            _ => ("", name),
        };
        let found = match tag {
            "struct" => btf.find_struct(bare),
            "union" => btf.find_union(bare),
            "enum" => btf.find_enum(bare),
            _ => btf
                .find_type_by_name(Kind::Typedef, bare)
                .or_else(|| btf.find_type_by_name(Kind::Int, bare)),
        };
        let Some(id) = found else {
            let suggestion = self.suggest_type(tag, bare);
            return Err(LookupError::Unknown { suggestion });
        };
        match tag {
            "struct" | "union" if !matches!(self.view(id), KType::Record { .. }) => {
                Err(LookupError::Incomplete)
            }
            _ => Ok(id),
        }
    }

    /// The closest type name of the same kind, for "did you mean".
    fn suggest_type(&mut self, tag: &str, bare: &str) -> Option<String> {
        let kinds: &[Kind] = match tag {
            "struct" => &[Kind::Struct],
            "union" => &[Kind::Union],
            "enum" => &[Kind::Enum, Kind::Enum64],
            _ => &[Kind::Typedef],
        };
        let btf = self.btf()?;
        let names = kinds.iter().flat_map(|k| btf.names_of_kind(*k));
        let best = closest(bare, names.map(|(_, n)| n))?;
        Some(if tag.is_empty() {
            best
        } else {
            format!("{tag} {best}")
        })
    }

    /// The member at `path` (`a` or `a.b`) of record `id`.
    pub fn member(&mut self, id: TypeId, path: &str) -> Result<MemberInfo, BtfError> {
        match self.btf() {
            Some(btf) => btf.member(id, path),
            None => Err(BtfError::UnknownType(id)),
        }
    }

    /// The member name of record `id` closest to `wrong`, for "did you mean".
    pub fn suggest_member(&mut self, id: TypeId, wrong: &str) -> Option<String> {
        let btf = self.btf()?;
        let members = btf.members(id).ok()?;
        closest(wrong, members.iter().map(|m| m.name))
    }

    /// The names reachable in record `id`, anonymous members flattened.
    pub fn member_names(&mut self, id: TypeId) -> Vec<String> {
        let Some(btf) = self.btf() else {
            return Vec::new();
        };
        let members = btf.members(id).unwrap_or_default();
        members.iter().map(|m| m.name.to_string()).collect()
    }

    /// Everything printing an enum needs, built once per enum.
    pub fn enum_def(&mut self, id: TypeId) -> Arc<EnumDef> {
        if let Some(def) = self.enums.get(&id) {
            return def.clone();
        }
        let def = Arc::new(self.build_enum_def(id));
        self.enums.insert(id, def.clone());
        def
    }

    fn build_enum_def(&mut self, id: TypeId) -> EnumDef {
        let empty = EnumDef {
            name: String::new(),
            bits: 64,
            signed: false,
            values: Vec::new(),
        };
        let Some(btf) = self.btf() else {
            return empty;
        };
        let resolved = btf.resolve(id).unwrap_or(id);
        match btf.get(resolved) {
            Some(btf::Type::Enum(e)) | Some(btf::Type::Enum64(e)) => EnumDef {
                name: if e.name.is_empty() {
                    btf.type_name(id)
                } else {
                    format!("enum {}", e.name)
                },
                bits: (e.size.clamp(1, 8) * 8) as u8,
                signed: e.signed,
                values: e.values.map(|v| (v.value, v.name.to_string())).collect(),
            },
            _ => empty,
        }
    }

    /// The enum defining enumerator `name`, and its value.
    pub fn enumerator(&mut self, name: &str) -> Option<(TypeId, i64)> {
        self.btf()?.enumerator(name)
    }

    /// Named parameters of raw tracepoint `name` (the context argument dropped).
    pub fn raw_tracepoint_args(&mut self, name: &str) -> Option<Vec<(String, Handle)>> {
        let params = self.btf()?.raw_tracepoint_args(name)?;
        Some(named_params(params.iter().map(|p| (p.name, p.ty))))
    }

    /// Parameters and return type of kernel function `name` (fentry/fexit).
    pub fn function_args(&mut self, name: &str) -> Option<(Vec<(String, Handle)>, Handle)> {
        let sig = self.btf()?.func_signature(name)?;
        let params = named_params(sig.params.iter().map(|p| (p.name, p.ty)));
        Some((params, sig.ret))
    }
}

/// Parameters without a name in BTF are called `argN`, as bpftrace does.
fn named_params<'a>(params: impl Iterator<Item = (&'a str, TypeId)>) -> Vec<(String, Handle)> {
    params
        .enumerate()
        .map(|(i, (name, ty))| match name {
            "" => (format!("arg{i}"), ty),
            n => (n.to_string(), ty),
        })
        .collect()
}

/// Why a type name was not found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// The kernel has no BTF (`/sys/kernel/btf/vmlinux`).
    NoBtf,
    /// No such type; the closest name, if any is close.
    Unknown { suggestion: Option<String> },
    /// Only a forward declaration exists.
    Incomplete,
}

/// The candidate within a small edit distance of `wrong` (ties: the shortest).
pub fn closest<'a>(wrong: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let limit = (wrong.len() / 3).clamp(1, 3);
    candidates
        .filter(|c| c.len().abs_diff(wrong.len()) <= limit)
        .map(|c| (edit_distance(wrong, c), c.len(), c))
        .filter(|(d, _, _)| *d <= limit)
        .min()
        .map(|(_, _, c)| c.to_string())
}

/// The shape of BTF type `id`.
fn view_btf(btf: &Btf, id: TypeId) -> KType {
    let Some(resolved) = btf.resolve(id) else {
        return KType::Unknown;
    };
    let Some(ty) = btf.get(resolved) else {
        return KType::Unknown;
    };
    match ty {
        btf::Type::Void => KType::Void,
        btf::Type::Int {
            name,
            size,
            signed,
            is_char,
            ..
        } => KType::Int {
            size,
            signed,
            is_char: is_char || name == "char",
        },
        btf::Type::Enum(e) | btf::Type::Enum64(e) => KType::Enum {
            id: resolved,
            size: e.size,
            signed: e.signed,
        },
        btf::Type::Ptr { to } => KType::Ptr {
            to,
            user: has_user_tag(btf, to),
        },
        btf::Type::Array { elem, len, .. } => KType::Array { elem, len },
        btf::Type::Struct(c) | btf::Type::Union(c) => KType::Record {
            id: resolved,
            size: c.size,
        },
        btf::Type::Fwd { name, is_union } => {
            let full = if is_union {
                btf.find_union(name)
            } else {
                btf.find_struct(name)
            };
            match full.and_then(|f| btf.get(f)) {
                Some(btf::Type::Struct(c)) | Some(btf::Type::Union(c)) if c.size > 0 => {
                    KType::Record {
                        id: full.unwrap_or(resolved),
                        size: c.size,
                    }
                }
                _ => KType::Unknown,
            }
        }
        btf::Type::Func { .. } | btf::Type::FuncProto { .. } => KType::Func,
        btf::Type::Float { .. } => KType::Float,
        _ => KType::Unknown,
    }
}

/// Whether the chain of qualifiers before `to` holds the `user` type tag (`__user`).
fn has_user_tag(btf: &Btf, mut to: TypeId) -> bool {
    for _ in 0..16 {
        match btf.get(to) {
            Some(btf::Type::TypeTag { name: "user", .. }) => return true,
            Some(btf::Type::TypeTag { to: next, .. })
            | Some(btf::Type::Const { to: next })
            | Some(btf::Type::Volatile { to: next })
            | Some(btf::Type::Restrict { to: next }) => to = next,
            _ => return false,
        }
    }
    false
}
