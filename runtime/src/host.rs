//! The user-space side of JIT-compiled blocks (BEGIN, END, interval, REPL lines):
//! map operations on the real kernel maps, emitted records, builtins.
//!
//! Semantics follow the kernel side so a script behaves the same wherever a
//! statement runs: per-CPU maps read as the merge of all CPUs (as printing does),
//! and user space updates aggregations as if it were CPU 0.

use crate::iterate::{sorted_entries, SnapshotEntry};
use crate::maps::MapTable;
use crate::sys;
use rtrace_compiler::ir::{AggOp, Builtin, MapId, MapKind, MapSpec};
use rtrace_compiler::jit::Host;
use rtrace_stdlib::types::{Type, AGG_COUNT, AGG_TOTAL, MINMAX_VALID, MINMAX_VALUE};
use std::collections::HashMap;
use std::time::Instant;

/// [`Host`] over a module's [`MapTable`].
pub struct UserHost {
    /// The maps JIT code reads and writes (also what the event loop prints).
    pub maps: MapTable,
    start: Instant,
    emitted: Vec<Vec<u8>>,
    rand_state: u64,
    cgroup_id: u64,
    /// Sorted entries of the maps being iterated by `for`, taken at index 0,
    /// by (map, loop cursor).
    snapshots: HashMap<(MapId, u32), Vec<SnapshotEntry>>,
}

impl UserHost {
    /// `start` is the tracer's start; `elapsed` counts from it. `Instant` reads
    /// CLOCK_MONOTONIC on Linux, the clock of `bpf_ktime_get_ns()`, so kernel
    /// programs given the same moment as `start_ns` agree with user space.
    pub fn new(maps: MapTable, start: Instant) -> UserHost {
        let seed = sys::monotonic_ns() ^ (u64::from(std::process::id()) << 32);
        UserHost {
            maps,
            start,
            emitted: Vec::new(),
            rand_state: seed | 1,
            cgroup_id: own_cgroup_id(),
            snapshots: HashMap::new(),
        }
    }

    /// Records emitted since the last call, oldest first.
    pub fn take_emitted(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.emitted)
    }

    /// xorshift64*: cheap, good enough for `rand`.
    fn next_rand(&mut self) -> u32 {
        let mut x = self.rand_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rand_state = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }

    fn is_per_cpu(&self, map: MapId) -> bool {
        self.maps
            .spec(map)
            .is_some_and(|s| matches!(s.kind, MapKind::PerCpuHash | MapKind::PerCpuArray))
    }
}

/// The cgroup v2 id of this process (the inode number of its cgroup directory),
/// or 0 if it cannot be found cheaply.
fn own_cgroup_id() -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(text) = std::fs::read_to_string("/proc/self/cgroup") else {
        return 0;
    };
    let Some(path) = text.lines().find_map(|l| l.strip_prefix("0::")) else {
        return 0;
    };
    std::fs::metadata(format!("/sys/fs/cgroup{}", path.trim_end())).map_or(0, |m| m.ino())
}

fn read_u64(bytes: &[u8], off: u32) -> u64 {
    let off = off as usize;
    bytes
        .get(off..off + 8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

fn write_u64(bytes: &mut [u8], off: u32, value: u64) {
    let off = off as usize;
    if let Some(b) = bytes.get_mut(off..off + 8) {
        b.copy_from_slice(&value.to_le_bytes());
    }
}

/// Merges the per-CPU copies of an aggregation value into one, in its stored
/// layout: counts and totals add; min/max keep the extreme of the valid copies.
fn merge_copies(value_type: &Type, copies: &[Vec<u8>], size: usize) -> Vec<u8> {
    let mut out = vec![0u8; size];
    match value_type {
        Type::Min | Type::Max => {
            let want_min = *value_type == Type::Min;
            let extreme = copies
                .iter()
                .filter(|c| read_u64(c, MINMAX_VALID) != 0)
                .map(|c| read_u64(c, MINMAX_VALUE) as i64)
                .reduce(|a, b| if (b < a) == want_min { b } else { a });
            if let Some(v) = extreme {
                write_u64(&mut out, MINMAX_VALUE, v as u64);
                write_u64(&mut out, MINMAX_VALID, 1);
            }
        }
        Type::Sum | Type::Avg | Type::Stats => {
            let sum_at = |off| {
                copies
                    .iter()
                    .fold(0u64, |a, c| a.wrapping_add(read_u64(c, off)))
            };
            write_u64(&mut out, AGG_TOTAL, sum_at(AGG_TOTAL));
            write_u64(&mut out, AGG_COUNT, sum_at(AGG_COUNT));
        }
        _ => {
            // count, hist/lhist buckets and any other u64-word value: word-wise sum.
            for off in (0..size as u32).step_by(8) {
                let total = copies
                    .iter()
                    .fold(0u64, |a, c| a.wrapping_add(read_u64(c, off)));
                write_u64(&mut out, off, total);
            }
        }
    }
    out
}

/// Applies one aggregation update to a value in its stored layout (ir.rs `AggOp`).
fn apply_agg(value: &mut [u8], op: AggOp, val: i64) {
    match op {
        AggOp::Count => write_u64(value, 0, read_u64(value, 0).wrapping_add(1)),
        AggOp::Add => {
            let total = read_u64(value, AGG_TOTAL).wrapping_add(val as u64);
            write_u64(value, AGG_TOTAL, total);
            write_u64(value, AGG_COUNT, read_u64(value, AGG_COUNT).wrapping_add(1));
        }
        AggOp::Min | AggOp::Max => {
            let valid = read_u64(value, MINMAX_VALID) != 0;
            let current = read_u64(value, MINMAX_VALUE) as i64;
            let better = if op == AggOp::Min {
                val < current
            } else {
                val > current
            };
            if !valid || better {
                write_u64(value, MINMAX_VALUE, val as u64);
                write_u64(value, MINMAX_VALID, 1);
            }
        }
    }
}

/// The Host interface has no error channel: a failing map syscall (a full map,
/// a map that vanished) behaves like the kernel's silently failing helper, and is
/// reported once on stderr so it is not invisible.
fn report(result: std::io::Result<()>, what: &str, map: MapId) {
    if let Err(e) = result {
        eprintln!("rtrace: {what} on map {map} failed: {e}");
    }
}

impl Host for UserHost {
    fn map_read(&mut self, map: MapId, key: Option<&[u8]>, dst: &mut [u8]) -> bool {
        let Some(spec) = self.maps.spec(map) else {
            return false;
        };
        let value_type = spec.value_type.clone();
        let value_size = spec.value_size as usize;
        let copies = match self.maps.lookup(map, key) {
            Ok(Some(copies)) => copies,
            Ok(None) => return false,
            Err(e) => {
                report(Err(e), "map read", map);
                return false;
            }
        };
        let value = if self.is_per_cpu(map) {
            merge_copies(&value_type, &copies, value_size)
        } else {
            copies.into_iter().next().unwrap_or_default()
        };
        let n = dst.len().min(value.len());
        dst[..n].copy_from_slice(&value[..n]);
        dst[n..].fill(0);
        true
    }

    fn map_write(&mut self, map: MapId, key: Option<&[u8]>, src: &[u8]) {
        // Per-CPU maps get the value on CPU 0 and zero elsewhere, so it reads back
        // (merged) as exactly `src`.
        let result = self.maps.update(map, key, &[src.to_vec()]);
        crate::dropped::note_failed_update(&self.maps, result, "map write", map);
    }

    fn map_agg(&mut self, map: MapId, key: Option<&[u8]>, op: AggOp, val: i64) {
        let Some(spec) = self.maps.spec(map) else {
            return;
        };
        let value_size = spec.value_size as usize;
        let result = self.maps.lookup(map, key).and_then(|found| {
            let mut copies = found.unwrap_or_else(|| vec![vec![0u8; value_size]]);
            if copies.is_empty() {
                copies.push(vec![0u8; value_size]);
            }
            // User space acts as CPU 0.
            apply_agg(&mut copies[0], op, val);
            self.maps.update(map, key, &copies)
        });
        crate::dropped::note_failed_update(&self.maps, result, "aggregation", map);
    }

    fn map_delete(&mut self, map: MapId, key: Option<&[u8]>) {
        report(self.maps.delete(map, key).map(|_| ()), "delete", map);
    }

    fn emit(&mut self, record: &[u8]) {
        self.emitted.push(record.to_vec());
    }

    fn builtin(&mut self, which: Builtin) -> u64 {
        match which {
            Builtin::Pid => u64::from(std::process::id()),
            Builtin::Tid => u64::from(sys::gettid()),
            Builtin::Uid => u64::from(sys::uid_gid().0),
            Builtin::Gid => u64::from(sys::uid_gid().1),
            Builtin::Nsecs => sys::monotonic_ns(),
            Builtin::Elapsed => self.start.elapsed().as_nanos() as u64,
            Builtin::Cpu => u64::from(sys::current_cpu()),
            Builtin::Rand => u64::from(self.next_rand()),
            Builtin::Cgroup => self.cgroup_id,
            Builtin::CurTask => 0,
            Builtin::AttachCookie | Builtin::FuncIp => 0,
            Builtin::NumaId => u64::from(sys::current_numa_node()),
        }
    }

    fn comm(&mut self, dst: &mut [u8]) {
        dst.fill(0);
        let name = b"rtrace";
        let n = name.len().min(dst.len().saturating_sub(1));
        dst[..n].copy_from_slice(&name[..n]);
    }

    fn read(&mut self, dst: &mut [u8], _addr: u64, _user: bool) -> bool {
        // Addresses in scripts refer to traced tasks or the kernel, not to rtrace.
        dst.fill(0);
        false
    }

    fn read_str(&mut self, dst: &mut [u8], _addr: u64, _user: bool) {
        dst.fill(0);
    }

    fn map_entry(
        &mut self,
        map: MapId,
        cursor: u32,
        index: u64,
        key: &mut [u8],
        value: &mut [u8],
    ) -> bool {
        if index == 0 {
            let merge = |spec: &MapSpec, copies: &[Vec<u8>]| {
                if matches!(spec.kind, MapKind::PerCpuHash | MapKind::PerCpuArray) {
                    merge_copies(&spec.value_type, copies, spec.value_size as usize)
                } else {
                    copies.first().cloned().unwrap_or_default()
                }
            };
            match sorted_entries(&self.maps, map, merge) {
                Ok(entries) => {
                    self.snapshots.insert((map, cursor), entries);
                }
                Err(e) => {
                    report(Err(e), "map iteration", map);
                    self.snapshots.remove(&(map, cursor));
                }
            }
        }
        let Some((k, v)) = self
            .snapshots
            .get(&(map, cursor))
            .and_then(|s| s.get(usize::try_from(index).ok()?))
        else {
            // Past the end: the snapshot is no longer needed.
            self.snapshots.remove(&(map, cursor));
            return false;
        };
        copy_padded(key, k);
        copy_padded(value, v);
        true
    }

    fn map_len(&mut self, map: MapId) -> u64 {
        match self.maps.len(map) {
            Ok(n) => n as u64,
            Err(e) => {
                report(Err(e), "len()", map);
                0
            }
        }
    }
}

/// Copy `src` into `dst`, zero-filling the rest.
fn copy_padded(dst: &mut [u8], src: &[u8]) {
    let n = dst.len().min(src.len());
    dst[..n].copy_from_slice(&src[..n]);
    dst[n..].fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(v: u64) -> Vec<u8> {
        v.to_le_bytes().to_vec()
    }

    fn pair(a: u64, b: u64) -> Vec<u8> {
        [word(a), word(b)].concat()
    }

    #[test]
    fn aggregations_update_like_the_kernel() {
        let mut v = pair(0, 0);
        apply_agg(&mut v, AggOp::Add, -5);
        apply_agg(&mut v, AggOp::Add, 7);
        assert_eq!(v, pair(2, 2));
        let mut m = pair(0, 0);
        apply_agg(&mut m, AggOp::Min, 9);
        apply_agg(&mut m, AggOp::Min, -3);
        apply_agg(&mut m, AggOp::Min, 4);
        assert_eq!(m, pair(-3i64 as u64, 1));
        let mut c = word(41);
        apply_agg(&mut c, AggOp::Count, 0);
        assert_eq!(c, word(42));
    }

    #[test]
    fn per_cpu_copies_merge() {
        assert_eq!(merge_copies(&Type::Count, &[word(2), word(3)], 8), word(5));
        assert_eq!(
            merge_copies(
                &Type::Max,
                &[pair(100, 0), pair(-4i64 as u64, 1), pair(7, 1)],
                16
            ),
            pair(7, 1)
        );
        assert_eq!(
            merge_copies(
                &Type::Min,
                &[pair(100, 0), pair(-4i64 as u64, 1), pair(7, 1)],
                16
            ),
            pair(-4i64 as u64, 1)
        );
        assert_eq!(merge_copies(&Type::Min, &[pair(5, 0)], 16), pair(0, 0));
        assert_eq!(
            merge_copies(&Type::Stats, &[pair(10, 1), pair(20, 2)], 16),
            pair(30, 3)
        );
    }

    #[test]
    fn rand_varies_and_comm_is_padded() {
        let mut host = UserHost::new(MapTable::new(), Instant::now());
        let a = host.builtin(Builtin::Rand);
        let b = host.builtin(Builtin::Rand);
        assert_ne!(a, b);
        assert!(a <= u64::from(u32::MAX));
        let mut comm = [0xffu8; 16];
        host.comm(&mut comm);
        assert_eq!(&comm[..7], b"rtrace\0");
        assert!(comm[7..].iter().all(|&b| b == 0));
        assert_eq!(host.builtin(Builtin::Pid), u64::from(std::process::id()));
    }
}
