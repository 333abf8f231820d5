//! Lowering of `@m = count()`, `sum`, `min`, `max`, `avg`, `stats`, `hist` and
//! `lhist`: the map key (with the bucket index for histograms) and the in-place
//! update (`Inst::MapAgg`).

use super::*;

impl FnLower<'_> {
    pub(super) fn aggregate(
        &mut self,
        map: ir::MapId,
        key: Option<&TExpr>,
        func: AggFunc,
        value: Option<&TExpr>,
    ) {
        // The key goes to memory first, so the value and bucket vregs never cross blocks.
        let bucketed = matches!(func, AggFunc::Hist | AggFunc::Lhist { .. });
        let key_mem = self.map_key(map, key);
        let val = match value {
            Some(v) => Operand::Reg(self.scalar(v)),
            None => Operand::Imm(0),
        };
        let op = match func {
            AggFunc::Count | AggFunc::Hist | AggFunc::Lhist { .. } => AggOp::Count,
            AggFunc::Sum | AggFunc::Avg | AggFunc::Stats => AggOp::Add,
            AggFunc::Min => AggOp::Min,
            AggFunc::Max => AggOp::Max,
        };
        if !bucketed {
            self.emit(Inst::MapAgg {
                map,
                key: key_mem,
                op,
                val,
            });
            return;
        }
        let bucket = match func {
            AggFunc::Lhist { min, max, step } => self.lhist_bucket(val, min, max, step),
            _ => self.hist_bucket(val),
        };
        let key_mem = match key_mem {
            Some(mem) => {
                let key_size = self.maps[map as usize].key_size;
                self.store64(mem.offset(key_size - 8), bucket);
                mem
            }
            None => {
                let mem = self.temp(8);
                self.emit(Inst::Store {
                    mem,
                    src: Operand::Reg(bucket),
                    size: 4,
                });
                mem
            }
        };
        self.emit(Inst::MapAgg {
            map,
            key: Some(key_mem),
            op,
            val: Operand::Imm(0),
        });
    }

    /// log2 bucket: 0 for negative values, 1 for 0, 2 + floor(log2 v) otherwise
    /// (the index `rtrace_stdlib::buckets` prints as `(..., 0)`, `[0]`, `[1]`, `[2, 4)` …).
    /// The log2 is a binary search over shifts with branches, which is shorter
    /// than a branch-free sequence in eBPF.
    fn hist_bucket(&mut self, val: Operand) -> VReg {
        let Operand::Reg(v) = val else {
            unreachable!("hist always has a value")
        };
        // 1 for zero, 0 for negative values; positive values take the log path.
        let result = self.cmp(Cond::Eq, v, Operand::Imm(0));
        let positive = self.cmp(Cond::SGt, v, Operand::Imm(0));
        let (log, join) = (self.f.new_block(), self.f.new_block());
        self.terminate(Term::Branch {
            cond: positive,
            then: log,
            els: join,
        });

        self.cur = log;
        self.emit(Inst::Const {
            dst: result,
            value: 2,
        });
        let x = self.vreg();
        self.emit(Inst::Mov { dst: x, src: v });
        for shift in [32i64, 16, 8, 4, 2, 1] {
            let bound = (1i64 << shift) - 1;
            let b = if fits_imm(bound) {
                Operand::Imm(bound)
            } else {
                Operand::Reg(self.constant(bound))
            };
            let above = self.cmp(Cond::UGt, x, b);
            let (step, next) = (self.f.new_block(), self.f.new_block());
            self.terminate(Term::Branch {
                cond: above,
                then: step,
                els: next,
            });
            self.cur = step;
            self.emit(Inst::Bin {
                dst: x,
                op: ir::BinOp::LShr,
                a: x,
                b: Operand::Imm(shift),
            });
            self.emit(Inst::Bin {
                dst: result,
                op: ir::BinOp::Add,
                a: result,
                b: Operand::Imm(shift),
            });
            self.terminate(Term::Jump(next));
            self.cur = next;
        }
        self.terminate(Term::Jump(join));
        self.cur = join;
        result
    }

    /// Linear bucket: 0 below `min`, 1 + (v - min) / step inside, last at or above `max`.
    fn lhist_bucket(&mut self, val: Operand, min: i64, max: i64, step: i64) -> VReg {
        let Operand::Reg(v) = val else {
            unreachable!("lhist always has a value")
        };
        let last = lhist_bucket_count(min, max, step) as i64 - 1;
        let imm = |l: &mut Self, x: i64| {
            if fits_imm(x) {
                Operand::Imm(x)
            } else {
                Operand::Reg(l.constant(x))
            }
        };
        let (min_op, max_op, step_op) = (imm(self, min), imm(self, max), imm(self, step));
        let below = self.cmp(Cond::SLt, v, min_op);
        let above = self.cmp(Cond::SGe, v, max_op);
        let off = self.bin(ir::BinOp::Sub, v, min_op);
        let idx = self.bin(ir::BinOp::SDiv, off, step_op);
        let idx = self.bin(ir::BinOp::Add, idx, Operand::Imm(1));
        // Buckets past `last - 1` (when step does not divide the range) stay in range.
        let idx_cap = self.cmp(Cond::SGt, idx, Operand::Imm(last - 1));
        let over = self.bin(ir::BinOp::Or, above, Operand::Reg(idx_cap));
        let outside = self.bin(ir::BinOp::Or, below, Operand::Reg(over));
        let inside = self.bin(ir::BinOp::Xor, outside, Operand::Imm(1));
        let in_idx = self.bin(ir::BinOp::Mul, idx, Operand::Reg(inside));
        let above_only = self.bin(ir::BinOp::Xor, below, Operand::Imm(1));
        let over_and_not_below = self.bin(ir::BinOp::And, over, Operand::Reg(above_only));
        let over_idx = self.bin(ir::BinOp::Mul, over_and_not_below, Operand::Imm(last));
        self.bin(ir::BinOp::Add, in_idx, Operand::Reg(over_idx))
    }
}
