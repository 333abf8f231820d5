//! Lowering `kstack` / `ustack`: one stack-trace map per (kind, depth), the
//! stack id from `bpf_get_stackid`, and for user stacks the pid plus a
//! "first stack of this process" record (see `EventSpec::UserStackPid`).

use super::{FnLower, Val, MAP_KEYS_MAX};
use crate::ir::{self, Builtin, EventSpec, Inst, MapKind, MapSpec, Operand, Term};
use crate::typed::EventId;
use rtrace_stdlib::stacks::stack_map_name;
use rtrace_stdlib::types::Type;

/// Name of the hash of pids whose user stacks were announced to user space.
pub const USER_PIDS_MAP: &str = ".upids";
/// Processes remembered in [`USER_PIDS_MAP`]; later ones are announced again
/// with every stack, which costs records but loses nothing.
const USER_PIDS_MAX: u32 = 16384;
/// Bytes of one `struct bpf_stack_build_id` frame.
pub const BUILD_ID_FRAME_SIZE: u32 = 32;
/// Stacks kept per stack map.
const STACKS_MAX: u32 = MAP_KEYS_MAX;

/// The stack maps of `stack_maps` ((user, depth) pairs), then the pid hash if
/// any user stack or `usym` announces pids (`EventSpec::UserStackPid`).
pub(super) fn stack_map_specs(stack_maps: &[(bool, u32)], events: &[EventSpec]) -> Vec<MapSpec> {
    let mut specs: Vec<MapSpec> = stack_maps
        .iter()
        .map(|&(user, limit)| MapSpec {
            name: stack_map_name(user, limit),
            // User frames as (build id, file offset): they resolve after the
            // process is gone (see runtime/src/usyms.rs).
            kind: if user {
                MapKind::StackTraceBuildId
            } else {
                MapKind::StackTrace
            },
            key_size: 4,
            value_size: if user {
                BUILD_ID_FRAME_SIZE * limit
            } else {
                8 * limit
            },
            max_entries: STACKS_MAX,
            key_type: Type::U32,
            value_type: Type::None,
        })
        .collect();
    if events.contains(&EventSpec::UserStackPid) {
        specs.push(MapSpec {
            name: USER_PIDS_MAP.to_string(),
            kind: MapKind::Hash,
            key_size: 8,
            value_size: 8,
            max_entries: USER_PIDS_MAX,
            key_type: Type::U64,
            value_type: Type::U64,
        });
    }
    specs
}

impl FnLower<'_> {
    fn map_named(&self, name: &str) -> ir::MapId {
        self.maps
            .iter()
            .position(|m| m.name == name)
            .expect("lowering created every stack map the checker asked for") as ir::MapId
    }

    /// A kstack is its stack id; a ustack is `[stack id, pid]` in memory.
    pub(super) fn stack(&mut self, user: bool, limit: u32, pid_event: Option<EventId>) -> Val {
        let map = self.map_named(&stack_map_name(user, limit));
        let id = self.vreg();
        self.emit(Inst::StackId { dst: id, map, user });
        if !user {
            return Val::Scalar(id);
        }
        let mem = self.temp(16);
        self.store64(mem, id);
        self.store_pid_after(mem, pid_event)
    }

    /// `usym(addr)`: `[addr, pid]`, the pid announced like a user stack's.
    pub(super) fn usym(&mut self, addr: &crate::typed::TExpr, pid_event: Option<EventId>) -> Val {
        let addr = self.value(addr);
        let mem = self.temp(16);
        self.store_into(mem, &Type::U64, addr, &Type::U64);
        self.store_pid_after(mem, pid_event)
    }

    /// Completes a `[value, pid]` pair at `mem` with the current pid, announced
    /// with `pid_event` when given.
    fn store_pid_after(&mut self, mem: ir::Mem, pid_event: Option<EventId>) -> Val {
        let pid = self.vreg();
        self.emit(Inst::Builtin {
            dst: pid,
            which: Builtin::Pid,
        });
        self.store64(mem.offset(8), pid);
        if let Some(event) = pid_event {
            self.announce_pid(mem.offset(8), event);
        }
        Val::Mem(mem)
    }

    /// If the pid stored at `pid_mem` is not in the pid hash yet, add it and
    /// emit `event` with it, so user space reads the process's symbols while
    /// the process still exists.
    fn announce_pid(&mut self, pid_mem: ir::Mem, event: EventId) {
        let pids = self.map_named(USER_PIDS_MAP);
        let found = self.vreg();
        let seen = self.temp(8);
        self.emit(Inst::MapRead {
            map: pids,
            key: Some(pid_mem),
            dst: seen,
            found: Some(found),
        });
        let (new, join) = (self.f.new_block(), self.f.new_block());
        self.terminate(Term::Branch {
            cond: found,
            then: join,
            els: new,
        });
        self.cur = new;
        self.emit(Inst::Store {
            mem: seen,
            src: Operand::Imm(1),
            size: 8,
        });
        self.emit(Inst::MapWrite {
            map: pids,
            key: Some(pid_mem),
            src: seen,
        });
        let record = self.temp(16);
        self.emit(Inst::Store {
            mem: record,
            src: Operand::Imm(i64::from(event)),
            size: 8,
        });
        let pid = self.load64(pid_mem);
        self.store64(record.offset(8), pid);
        self.emit(Inst::Emit {
            mem: record,
            len: 16,
        });
        self.terminate(Term::Jump(join));
        self.cur = join;
    }
}
