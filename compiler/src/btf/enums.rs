//! Enum values: printing a value by its enumerator name, and enumerator constants by name.

use super::types::{Kind, Type};
use super::{Btf, TypeId};

impl Btf {
    /// Name of the enumerator of `enum_id` (typedefs resolved) whose value is `value`, compared
    /// on the enum's size in bits (so sign- and zero-extended readings both match).
    pub fn enum_name(&self, enum_id: TypeId, value: u64) -> Option<&str> {
        let enum_type = match self.get(self.resolve(enum_id)?)? {
            Type::Enum(e) | Type::Enum64(e) => e,
            _ => return None,
        };
        let mask = match enum_type.size {
            1 | 2 | 4 => (1u64 << (enum_type.size * 8)) - 1,
            _ => u64::MAX,
        };
        let mut values = enum_type.values;
        values
            .find(|v| (v.value as u64 ^ value) & mask == 0)
            .map(|v| v.name)
    }

    /// The enum that defines enumerator `name` and its value (a linear scan of all enums,
    /// named or not: enumerators of anonymous enums are constants too).
    pub fn enumerator(&self, name: &str) -> Option<(TypeId, i64)> {
        let enums = self.ids_where(&|kind| matches!(kind, Kind::Enum | Kind::Enum64));
        enums.into_iter().find_map(|id| match self.get(id)? {
            Type::Enum(e) | Type::Enum64(e) => {
                let mut values = e.values;
                values.find(|v| v.name == name).map(|v| (id, v.value))
            }
            _ => None,
        })
    }
}
