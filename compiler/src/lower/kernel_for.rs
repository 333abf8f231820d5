//! Lowering of `for ($kv : @map)` and `len(@map)` inside kernel probes to
//! `Inst::MapForEach` (`bpf_for_each_map_elem`).
//!
//! The loop body becomes a function of its own (the callback). The probe's
//! variables stay in the probe's frame: the body gets one alias slot per
//! variable (`MapForEach::outer`), so the rest of the lowering is unchanged.
//! `continue` ends the callback, `break` sets the stop flag to 1 first, and a
//! `return` sets it to 3, which the probe checks after the loop to end itself.
//! Aggregations in per-CPU maps read as the sum over all CPUs, as elsewhere.

use super::*;

/// Stop flag written by `return` inside the body (bit 0 stops the iteration).
const STOP_RETURN: i64 = 3;

impl FnLower<'_> {
    pub(super) fn for_map_kernel(&mut self, var: VarId, map: ir::MapId, body: &[TStmt]) {
        let stop = self.temp(8);
        self.emit(Inst::Store {
            mem: stop,
            src: Operand::Imm(0),
            size: 8,
        });

        // Switch to the callback; the probe's variables become aliases.
        let callee = Function::new(format!("{}_each", self.f.name), self.f.context.clone());
        let caller = std::mem::replace(&mut self.f, callee);
        let caller_vars = self.vars.clone();
        let saved = (
            self.cur,
            std::mem::take(&mut self.loops),
            self.callback.take(),
        );
        self.cur = 0;
        let mut outer = Vec::with_capacity(self.vars.len() + 1);
        for i in 0..self.vars.len() {
            let mem = self.vars[i];
            let inner = self.f.new_slot(caller.slots[mem.slot as usize].size);
            outer.push((mem.slot, inner));
            self.vars[i] = Mem::at(inner, mem.off);
        }
        let stop_inner = self.f.new_slot(8);
        outer.push((stop.slot, stop_inner));
        let stop_inner = Mem::at(stop_inner, 0);

        let entry = self.entry_into_loop_variable(var, map);

        let (end, brk) = (self.f.new_block(), self.f.new_block());
        self.loops.push((end, brk));
        self.callback = Some((stop_inner, end));
        self.stmts(body);
        self.terminate(Term::Jump(end));
        self.cur = brk;
        self.emit(Inst::Store {
            mem: stop_inner,
            src: Operand::Imm(1),
            size: 8,
        });
        self.terminate(Term::Jump(end));
        self.cur = end;
        self.terminate(Term::Return);
        prune_unreachable(&mut self.f);

        // Back in the probe: call the helper, then honour a `return`.
        let mut callee = std::mem::replace(&mut self.f, caller);
        callee.name.truncate(15);
        self.vars = caller_vars;
        (self.cur, self.loops, self.callback) = saved;
        self.emit(Inst::MapForEach {
            map,
            body: Box::new(callee),
            outer,
            entry: Some(entry),
            stop: Some(stop_inner),
            count: None,
        });
        self.end_probe_if_body_returned(stop);
    }

    /// In the callback: the entry (key, then value) the helper passes, copied
    /// into the loop variable `(key, value)` — per-CPU values summed over CPUs,
    /// aggregations read as numbers. Returns the entry slot.
    fn entry_into_loop_variable(&mut self, var: VarId, map: ir::MapId) -> Mem {
        let spec = &self.maps[map as usize];
        let (key_size, value_size, value_type, kind) = (
            spec.key_size,
            spec.value_size,
            spec.value_type.clone(),
            spec.kind,
        );
        let Type::Tuple(fields) = self.var_types[var as usize].clone() else {
            unreachable!("the checker types a map loop variable as (key, value)")
        };
        // The entry slot is read first, so no other slot shares its bytes while
        // the prologue fills it.
        let entry = self.temp(round8(key_size) + round8(value_size));
        let value = entry.offset(round8(key_size));
        let copy = super::flow::MapEntryCopy {
            var: self.vars[var as usize],
            fields: &fields,
            key: (entry, key_size),
            value: (value, value_size),
        };
        let per_cpu = matches!(kind, MapKind::PerCpuHash | MapKind::PerCpuArray);
        self.copy_map_entry(copy, |l: &mut Self| {
            if per_cpu {
                l.per_cpu_value_at(map, Some(entry))
            } else {
                l.aggregate_scalar(value, &value_type)
            }
        });
        entry
    }

    /// Back in the probe after the helper: a `return` in the body ends the probe.
    fn end_probe_if_body_returned(&mut self, stop: Mem) {
        let flag = self.load64(stop);
        let returned = self.cmp(Cond::Eq, flag, Operand::Imm(STOP_RETURN));
        let (exit, after) = (self.f.new_block(), self.f.new_block());
        self.terminate(Term::Branch {
            cond: returned,
            then: exit,
            els: after,
        });
        self.cur = exit;
        self.terminate(Term::Return);
        self.cur = after;
    }

    /// `return` inside a kernel `for` body: stop iterating, then end the probe.
    pub(super) fn return_from_callback(&mut self) {
        let Some((stop, end)) = self.callback else {
            return;
        };
        self.emit(Inst::Store {
            mem: stop,
            src: Operand::Imm(STOP_RETURN),
            size: 8,
        });
        self.terminate(Term::Jump(end));
        self.continue_in_new_block();
    }

    /// `len(@m)` in a kernel probe: the number of elements
    /// `bpf_for_each_map_elem` visits with a callback that does nothing.
    pub(super) fn map_len_kernel(&mut self, map: ir::MapId) -> VReg {
        let mut body = Function::new(format!("{}_len", self.f.name), self.f.context.clone());
        body.name.truncate(15);
        let dst = self.vreg();
        self.emit(Inst::MapForEach {
            map,
            body: Box::new(body),
            outer: Vec::new(),
            entry: None,
            stop: None,
            count: Some(dst),
        });
        dst
    }
}
