//! Lowering a member read from a struct copy (`$d = $dentry->d_name; $d.name`):
//! the copy lives in a stack slot, so the member is a plain load at its offset
//! (C alignment keeps it aligned, as stack loads must be).

use super::{FnLower, Val};
use crate::ir::Inst;
use crate::typed::TExpr;
use rtrace_stdlib::types::Type;

impl FnLower<'_> {
    /// The member of type `ty` at byte `offset` of the record value `record`.
    pub(super) fn record_part(&mut self, record: &TExpr, offset: u32, ty: &Type) -> Val {
        let Val::Mem(mem) = self.value(record) else {
            unreachable!("struct copies are in memory")
        };
        let member = mem.offset(offset);
        if ty.in_memory() {
            return Val::Mem(member);
        }
        let (size, signed) = match ty {
            Type::Int { bits, signed } => (bits / 8, *signed),
            Type::Enum(def) => (def.bits / 8, def.signed),
            _ => (8, false),
        };
        let dst = self.vreg();
        self.emit(Inst::Load {
            dst,
            mem: member,
            size,
            signed,
        });
        Val::Scalar(dst)
    }
}
