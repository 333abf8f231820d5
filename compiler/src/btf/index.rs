//! Name → type ids for one kind of one BTF part: an open-addressing hash table built on first
//! use, so that loading stays a single pass and a lookup only pays for the kind it asks about.

use super::strings;
use super::types::Kind;
use super::{Btf, TypeId};

/// Slots hold `hash << 32 | id`; 0 is empty (id 0, void, is never indexed).
pub(super) struct NameIndex {
    slots: Vec<u64>,
}

impl NameIndex {
    /// Indexes every named record of `kind` in `part` (its own records, not its base's).
    pub fn build(part: &Btf, kind: Kind) -> NameIndex {
        let raw_kind = kind as u8;
        let count = part.kinds.iter().filter(|&&k| k == raw_kind).count();
        let capacity = (count * 2).next_power_of_two().max(8);
        let mut index = NameIndex {
            slots: vec![0; capacity],
        };
        for id in part.own_ids(|k| k == kind) {
            let (name, hash) = part.name_with_hash(id);
            if !name.is_empty() {
                index.insert(hash, id);
            }
        }
        index
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn insert(&mut self, hash: u32, id: TypeId) {
        let mut at = hash as usize & self.mask();
        while self.slots[at] != 0 {
            at = (at + 1) & self.mask();
        }
        self.slots[at] = (u64::from(hash) << 32) | u64::from(id);
    }

    /// Appends the ids named `name` to `out` (in id order).
    pub fn lookup(&self, part: &Btf, name: &str, out: &mut Vec<TypeId>) {
        let hash = strings::hash(name.as_bytes());
        let first = out.len();
        let mut at = hash as usize & self.mask();
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                break;
            }
            let id = slot as u32;
            if (slot >> 32) as u32 == hash && part.name_with_hash(id).0 == name.as_bytes() {
                out.push(id);
            }
            at = (at + 1) & self.mask();
        }
        out[first..].sort_unstable();
    }
}
