//! Lowering of loops over data and of map queries: `for` over a map (user
//! space) or a range, `unroll` with `break`/`continue`, `has_key`, `len`, and
//! reads of per-CPU aggregations inside kernel probes (summed over the CPUs).
//!
//! Loops follow the lowering's rule that vregs never cross blocks: the loop
//! index lives in a slot and is reloaded in each block.

use super::*;
use rtrace_stdlib::types::{MINMAX_VALID, MINMAX_VALUE};

/// Where a map entry is and which loop variable receives it.
pub(super) struct MapEntryCopy<'t> {
    /// The `(key, value)` variable.
    pub var: Mem,
    /// Its two field types.
    pub fields: &'t [Type],
    /// The key's bytes and size.
    pub key: (Mem, u32),
    /// The value's bytes and size.
    pub value: (Mem, u32),
}

/// The blocks of a counted loop: test, body, step (the `continue` target), exit.
struct LoopBlocks {
    head: BlockId,
    body: BlockId,
    step: BlockId,
    exit: BlockId,
}

impl FnLower<'_> {
    fn loop_blocks(&mut self) -> LoopBlocks {
        LoopBlocks {
            head: self.f.new_block(),
            body: self.f.new_block(),
            step: self.f.new_block(),
            exit: self.f.new_block(),
        }
    }

    /// Lower `body` as a loop body whose `continue` goes to `step`, then
    /// increment the 8-byte counter at `counter` there and go back to `head`.
    fn loop_body_and_step(&mut self, b: &LoopBlocks, counter: Mem, body: &[TStmt]) {
        self.loops.push((b.step, b.exit));
        self.stmts(body);
        self.loops.pop();
        self.terminate(Term::Jump(b.step));
        self.cur = b.step;
        let i = self.load64(counter);
        let next = self.bin(ir::BinOp::Add, i, Operand::Imm(1));
        self.store64(counter, next);
        self.terminate(Term::Jump(b.head));
        self.cur = b.exit;
    }

    /// `for ($i : from..to)`: `$i` runs from `from` up to, not including, `to`.
    pub(super) fn for_range(&mut self, var: VarId, from: &TExpr, to: &TExpr, body: &[TStmt]) {
        let counter = self.vars[var as usize];
        let end = self.temp(8);
        let start = self.scalar(from);
        self.store64(counter, start);
        let stop = self.scalar(to);
        self.store64(end, stop);
        let b = self.loop_blocks();
        self.terminate(Term::Jump(b.head));
        self.cur = b.head;
        let (i, e) = (self.load64(counter), self.load64(end));
        let more = self.cmp(Cond::SLt, i, Operand::Reg(e));
        self.terminate(Term::Branch {
            cond: more,
            then: b.body,
            els: b.exit,
        });
        self.cur = b.body;
        self.loop_body_and_step(&b, counter, body);
    }

    /// `for ($kv : @map)` in user space: entries in the order the host gives
    /// them (`Inst::MapEntry`), each copied into the `(key, value)` variable.
    pub(super) fn for_map(&mut self, var: VarId, map: ir::MapId, body: &[TStmt]) {
        if self.f.context != Context::User {
            return self.for_map_kernel(var, map, body);
        }
        let spec = &self.maps[map as usize];
        let (key_size, value_size, value_type) =
            (spec.key_size, spec.value_size, spec.value_type.clone());
        let Type::Tuple(fields) = self.var_types[var as usize].clone() else {
            unreachable!("the checker types a map loop variable as (key, value)")
        };
        let var_mem = self.vars[var as usize];
        let index = self.temp(8);
        self.emit(Inst::Store {
            mem: index,
            src: Operand::Imm(0),
            size: 8,
        });
        let (key, value) = (self.temp(key_size), self.temp(value_size));
        let b = self.loop_blocks();
        self.terminate(Term::Jump(b.head));
        self.cur = b.head;
        let i = self.load64(index);
        let found = self.vreg();
        self.emit(Inst::MapEntry {
            map,
            // The index slot is unique to this loop in this function.
            cursor: index.slot,
            index: i,
            key,
            value,
            found,
        });
        self.terminate(Term::Branch {
            cond: found,
            then: b.body,
            els: b.exit,
        });
        self.cur = b.body;
        let entry = MapEntryCopy {
            var: var_mem,
            fields: &fields,
            key: (key, key_size),
            value: (value, value_size),
        };
        self.copy_map_entry(entry, |l: &mut Self| l.aggregate_scalar(value, &value_type));
        self.loop_body_and_step(&b, index, body);
    }

    /// Copies a map entry into a `for` loop's `(key, value)` variable: the key
    /// and in-memory values bytewise, numbers through `scalar`.
    pub(super) fn copy_map_entry(
        &mut self,
        entry: MapEntryCopy<'_>,
        scalar: impl FnOnce(&mut Self) -> VReg,
    ) {
        let (offs, _) = tuple_layout(entry.fields);
        let (key, key_size) = entry.key;
        let (value, value_size) = entry.value;
        self.emit(Inst::Copy {
            dst: entry.var.offset(offs[0]),
            src: key,
            len: round8(entry.fields[0].size()).min(key_size),
        });
        let value_at = entry.var.offset(offs[1]);
        match &entry.fields[1] {
            Type::Str { .. } | Type::Tuple(_) => {
                let len = round8(entry.fields[1].size()).min(value_size);
                self.emit(Inst::Copy {
                    dst: value_at,
                    src: value,
                    len,
                });
            }
            _ => {
                let v = scalar(self);
                self.store64(value_at, v);
            }
        }
    }

    /// The number an aggregation value (stored layout at `cell`) reads as.
    pub(super) fn aggregate_scalar(&mut self, cell: Mem, value_type: &Type) -> VReg {
        match value_type {
            Type::Avg => {
                let total = self.load64(cell);
                let count = self.load64(cell.offset(8));
                self.bin(ir::BinOp::SDiv, total, Operand::Reg(count))
            }
            Type::Min | Type::Max => self.load64(cell.offset(MINMAX_VALUE)),
            _ => self.load64(cell),
        }
    }

    /// `unroll (n) { … }`: `continue` goes to the next copy, `break` past the last.
    pub(super) fn unroll(&mut self, count: u32, body: &[TStmt]) {
        let exit = self.f.new_block();
        for _ in 0..count {
            let next = self.f.new_block();
            self.loops.push((next, exit));
            self.stmts(body);
            self.loops.pop();
            self.terminate(Term::Jump(next));
            self.cur = next;
        }
        self.terminate(Term::Jump(exit));
        self.cur = exit;
    }

    /// `has_key(@m, key)`: 1 or 0.
    pub(super) fn has_key(&mut self, map: ir::MapId, key: Option<&TExpr>) -> VReg {
        let value_size = self.maps[map as usize].value_size;
        let key = self.map_key(map, key);
        let dst = self.temp(value_size);
        let found = self.vreg();
        self.emit(Inst::MapRead {
            map,
            key,
            dst,
            found: Some(found),
        });
        found
    }

    /// `len(@m)` (user space only, enforced by the checker).
    pub(super) fn map_len(&mut self, map: ir::MapId) -> VReg {
        if self.f.context != Context::User {
            return self.map_len_kernel(map);
        }
        let dst = self.vreg();
        self.emit(Inst::MapLen { map, dst });
        dst
    }

    /// Whether reading `map` here must merge the per-CPU copies itself: in
    /// kernel probes a lookup sees only the current CPU's copy.
    pub(super) fn needs_cpu_merge(&self, map: ir::MapId) -> bool {
        self.f.context != Context::User
            && matches!(
                self.maps[map as usize].kind,
                MapKind::PerCpuHash | MapKind::PerCpuArray
            )
    }

    /// The value of a count/sum/avg/min/max entry summed over all possible
    /// CPUs in a kernel probe: a loop over `bpf_map_lookup_percpu_elem`
    /// (`Inst::MapReadCpu`, kernel ≥ 5.19) bounded by the CPU count.
    pub(super) fn per_cpu_value(&mut self, map: ir::MapId, key: Option<&TExpr>) -> VReg {
        let key = self.map_key(map, key);
        self.per_cpu_value_at(map, key)
    }

    /// [`Self::per_cpu_value`] for a key already in memory.
    pub(super) fn per_cpu_value_at(&mut self, map: ir::MapId, key: Option<Mem>) -> VReg {
        let spec = &self.maps[map as usize];
        let (value_size, value_type) = (spec.value_size, spec.value_type.clone());
        // acc: [total or best, count or valid]
        let acc = self.temp(16);
        self.emit(Inst::Zero { mem: acc, len: 16 });
        let cpu = self.temp(8);
        self.emit(Inst::Store {
            mem: cpu,
            src: Operand::Imm(0),
            size: 8,
        });
        let cell = self.temp(value_size);
        let b = self.loop_blocks();
        self.terminate(Term::Jump(b.head));
        self.cur = b.head;
        let i = self.load64(cpu);
        let more = self.cmp(Cond::ULt, i, Operand::Imm(i64::from(possible_cpus())));
        self.terminate(Term::Branch {
            cond: more,
            then: b.body,
            els: b.exit,
        });
        self.cur = b.body;
        let i = self.load64(cpu);
        let found = self.vreg();
        self.emit(Inst::MapReadCpu {
            map,
            key,
            cpu: i,
            dst: cell,
            found,
        });
        match value_type {
            Type::Min | Type::Max => self.merge_extreme(acc, cell, value_type == Type::Min),
            _ => {
                // count is one word; sum/avg are [total, count].
                let words = if value_size >= 16 { 2 } else { 1 };
                for off in (0..words).map(|w| w * 8) {
                    let (a, c) = (self.load64(acc.offset(off)), self.load64(cell.offset(off)));
                    let sum = self.bin(ir::BinOp::Add, a, Operand::Reg(c));
                    self.store64(acc.offset(off), sum);
                }
            }
        }
        self.loop_body_and_step(&b, cpu, &[]);
        match value_type {
            Type::Avg => {
                let (total, count) = (self.load64(acc), self.load64(acc.offset(8)));
                self.bin(ir::BinOp::SDiv, total, Operand::Reg(count))
            }
            _ => self.load64(acc),
        }
    }

    /// acc = [best, valid] merged with one CPU's [value, valid], branch-free:
    /// take = cell.valid && (!acc.valid || value beats best).
    fn merge_extreme(&mut self, acc: Mem, cell: Mem, min: bool) {
        let v = self.load64(cell.offset(MINMAX_VALUE));
        let v_valid = self.load64(cell.offset(MINMAX_VALID));
        let best = self.load64(acc);
        let valid = self.load64(acc.offset(8));
        let beats = self.cmp(
            if min { Cond::SLt } else { Cond::SGt },
            v,
            Operand::Reg(best),
        );
        let empty = self.cmp(Cond::Eq, valid, Operand::Imm(0));
        let wanted = self.bin(ir::BinOp::Or, beats, Operand::Reg(empty));
        let has = self.cmp(Cond::Ne, v_valid, Operand::Imm(0));
        let take = self.bin(ir::BinOp::And, wanted, Operand::Reg(has));
        let diff = self.bin(ir::BinOp::Sub, v, Operand::Reg(best));
        let step = self.bin(ir::BinOp::Mul, diff, Operand::Reg(take));
        let new_best = self.bin(ir::BinOp::Add, best, Operand::Reg(step));
        self.store64(acc, new_best);
        let new_valid = self.bin(ir::BinOp::Or, valid, Operand::Reg(take));
        self.store64(acc.offset(8), new_valid);
    }
}

/// Number of possible CPUs of this machine (the bound of `bpf_map_lookup_percpu_elem`'s
/// CPU argument): highest index in `/sys/devices/system/cpu/possible` plus one.
/// Scripts are compiled on the machine that loads them, so this is the load-time value.
pub fn possible_cpus() -> u32 {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|text| parse_cpu_list(&text))
        .or_else(|| {
            std::thread::available_parallelism()
                .ok()
                .map(|n| n.get() as u32)
        })
        .unwrap_or(1)
}

/// `0-3,5` → 6 (highest listed CPU + 1).
fn parse_cpu_list(text: &str) -> Option<u32> {
    text.trim()
        .split(',')
        .filter_map(|part| part.rsplit('-').next()?.trim().parse::<u32>().ok())
        .max()
        .map(|m| m + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_list_gives_highest_plus_one() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(2));
        assert_eq!(parse_cpu_list("0-3,5"), Some(6));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list(""), None);
        assert!(possible_cpus() >= 1);
    }
}
