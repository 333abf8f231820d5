//! Lowering `$s[i]`: one byte load from the string's memory (the checker
//! makes `i` a constant inside the string's capacity).

use super::{FnLower, Val};
use crate::ir::{Inst, VReg};
use crate::typed::TExpr;

impl FnLower<'_> {
    /// Byte `index` of string `s`, zero-extended.
    pub(super) fn str_byte(&mut self, s: &TExpr, index: u32) -> VReg {
        let Val::Mem(mem) = self.value(s) else {
            unreachable!("strings are in memory")
        };
        let dst = self.vreg();
        self.emit(Inst::Load {
            dst,
            mem: mem.offset(index),
            size: 1,
            signed: false,
        });
        dst
    }
}
