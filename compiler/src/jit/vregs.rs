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

#[cfg(test)]
mod tests {
    use super::block_local;
    use crate::ir::{BinOp, Block, Context, Function, Inst, Operand, Term};

    fn function(blocks: Vec<Block>, num_vregs: u32) -> Function {
        let mut f = Function::new("t", Context::User);
        f.blocks = blocks;
        f.num_vregs = num_vregs;
        f
    }

    #[test]
    fn temporaries_are_local_merges_and_early_reads_are_not() {
        let blocks = vec![
            Block {
                insts: vec![
                    Inst::Const { dst: 0, value: 1 },
                    Inst::Bin {
                        dst: 1,
                        op: BinOp::Add,
                        a: 0,
                        b: Operand::Reg(0),
                    },
                    // v2 is read before it is written: 0 on the first pass.
                    Inst::Mov { dst: 3, src: 2 },
                    Inst::Const { dst: 2, value: 5 },
                    // v4 is written in both blocks (a merge).
                    Inst::Const { dst: 4, value: 1 },
                    // v5 is read in another block.
                    Inst::Const { dst: 5, value: 1 },
                    // v6 reads itself.
                    Inst::Bin {
                        dst: 6,
                        op: BinOp::Add,
                        a: 6,
                        b: Operand::Imm(1),
                    },
                ],
                term: Term::Branch {
                    cond: 1,
                    then: 1,
                    els: 1,
                },
            },
            Block {
                insts: vec![
                    Inst::Const { dst: 4, value: 2 },
                    Inst::Store {
                        mem: crate::ir::Mem::at(0, 0),
                        src: Operand::Reg(5),
                        size: 8,
                    },
                ],
                term: Term::Return,
            },
        ];
        let local = block_local(&function(blocks, 7));
        assert_eq!(local, [true, true, false, true, false, false, false]);
    }
}
