//! Finding types by name: per-kind indexes built on first use, base types before own ones.

use super::index::NameIndex;
use super::types::Kind;
use super::{Btf, TypeId};

impl Btf {
    fn own_index(&self, kind: Kind) -> &NameIndex {
        self.by_name[kind as usize].get_or_init(|| NameIndex::build(self, kind))
    }

    /// All ids of `kind` named `name`, base types first, each part in id order.
    pub fn find_types_by_name(&self, kind: Kind, name: &str) -> Vec<TypeId> {
        let mut out = Vec::new();
        self.collect_by_name(kind, name, &mut out);
        out
    }

    fn collect_by_name(&self, kind: Kind, name: &str, out: &mut Vec<TypeId>) {
        if let Some(base) = &self.base {
            base.collect_by_name(kind, name, out);
        }
        if name.is_empty() || kind == Kind::Void {
            return;
        }
        self.own_index(kind).lookup(self, name, out);
    }

    /// All ids of `kind` named `name`, this part's own first: the types a split part
    /// defines (a module's, or a script's C definitions) shadow the base's.
    fn find_types_own_first(&self, kind: Kind, name: &str) -> Vec<TypeId> {
        let mut out = Vec::new();
        if !name.is_empty() && kind != Kind::Void {
            self.own_index(kind).lookup(self, name, &mut out);
        }
        if let Some(base) = &self.base {
            out.extend(base.find_types_own_first(kind, name));
        }
        out
    }

    /// The first type of `kind` named `name` (own types before the base's).
    pub fn find_type_by_name(&self, kind: Kind, name: &str) -> Option<TypeId> {
        self.find_types_own_first(kind, name).first().copied()
    }

    /// `struct <name>`: the first complete definition, else the first of that name.
    pub fn find_struct(&self, name: &str) -> Option<TypeId> {
        self.find_complete(Kind::Struct, name)
    }

    /// `union <name>`, like [`Btf::find_struct`].
    pub fn find_union(&self, name: &str) -> Option<TypeId> {
        self.find_complete(Kind::Union, name)
    }

    /// `enum <name>`, 32- or 64-bit.
    pub fn find_enum(&self, name: &str) -> Option<TypeId> {
        self.find_type_by_name(Kind::Enum, name)
            .or_else(|| self.find_type_by_name(Kind::Enum64, name))
    }

    fn find_complete(&self, kind: Kind, name: &str) -> Option<TypeId> {
        let ids = self.find_types_own_first(kind, name);
        let complete = ids
            .iter()
            .find(|&&id| self.header(id).is_some_and(|h| h.vlen() > 0));
        complete.or(ids.first()).copied()
    }

    /// A pointer record to exactly `id` (qualifiers not skipped), if BTF has one; a linear
    /// scan of the pointers, for callers that want a BTF id for `T *`.
    pub fn pointer_to(&self, id: TypeId) -> Option<TypeId> {
        let pointers = self.ids_where(&|kind| kind == Kind::Ptr);
        pointers
            .into_iter()
            .find(|&ptr| self.header(ptr).is_some_and(|h| h.size_or_type == id))
    }

    /// Every named type of `kind` with its id (base first), e.g. to suggest a near miss.
    pub fn names_of_kind(&self, kind: Kind) -> Vec<(TypeId, &str)> {
        let ids = self.ids_where(&|k| k == kind).into_iter();
        ids.map(|id| (id, self.name(id)))
            .filter(|(_, name)| !name.is_empty())
            .collect()
    }
}
