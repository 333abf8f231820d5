//! Which vregs can be translated as plain SSA values.
//!
//! Most vregs hold an expression temporary: written once, then read later in
//! the same block. Those become the Cranelift value of their definition
//! directly. The others (merges of control flow, loop variables, reads before
//! any write, which must yield 0) go through frontend `Variable`s, whose SSA
//! construction costs a map per variable.

use crate::ir::{Function, Term, VReg};

/// For each vreg: is it written exactly once and read only after that write,
/// in the same block?
pub(crate) fn block_local(func: &Function) -> Vec<bool> {
    let n = func.num_vregs as usize;
    // (defining block, position in it) of each vreg's only write, if it has one.
    let mut def: Vec<Option<(usize, usize)>> = vec![None; n];
    let mut writes = vec![0u32; n];
    for (b, block) in func.blocks.iter().enumerate() {
        for (i, inst) in block.insts.iter().enumerate() {
            if let Some(dst) = inst.def() {
                writes[dst as usize] += 1;
                def[dst as usize] = Some((b, i));
            }
        }
    }
    let mut local: Vec<bool> = writes.iter().map(|&w| w == 1).collect();
    let mut check_read = |reg: VReg, b: usize, i: usize| {
        let r = reg as usize;
        if !matches!(def[r], Some((db, di)) if db == b && di < i) {
            local[r] = false;
        }
    };
    for (b, block) in func.blocks.iter().enumerate() {
        for (i, inst) in block.insts.iter().enumerate() {
            inst.for_each_use(|reg| check_read(reg, b, i));
        }
        if let Term::Branch { cond, .. } = block.term {
            check_read(cond, b, block.insts.len());
        }
    }
    local
}
