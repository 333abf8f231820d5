//! The boundary between JIT-compiled code and the rest of rtrace.
//!
//! Compiled blocks do pure computation themselves and call the `extern "C"`
//! trampolines below for everything else. Each trampoline receives a
//! `*mut HostRef` (built by [`super::JitProgram::run`]) and forwards to the
//! [`Host`] trait object. This file holds all of the JIT's `unsafe` code that
//! turns raw pointers back into references.
//!
//! Panics in a `Host` method must not unwind through JIT frames (they have no
//! unwind tables and the trampolines are `extern "C"`), so each call is wrapped
//! in `catch_unwind`; the payload is kept, later host calls become no-ops and
//! `run` resumes the panic once the compiled code has returned.

use crate::ir::{AggOp, Builtin, MapId};
use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// What JIT-compiled code needs from the runtime. Key and value slices are
/// exactly `key_size` / `value_size` bytes of the map's `MapSpec`.
pub trait Host {
    /// Copy the value for `key` into `dst`; false if there is none (the JIT
    /// zeroes `dst` then).
    fn map_read(&mut self, map: MapId, key: Option<&[u8]>, dst: &mut [u8]) -> bool;
    /// Insert or replace the value for `key`.
    fn map_write(&mut self, map: MapId, key: Option<&[u8]>, src: &[u8]);
    /// Update an aggregation entry (see [`AggOp`]), creating it if missing.
    fn map_agg(&mut self, map: MapId, key: Option<&[u8]>, op: AggOp, val: i64);
    fn map_delete(&mut self, map: MapId, key: Option<&[u8]>);
    /// An event record; its first 8 bytes are the event id.
    fn emit(&mut self, record: &[u8]);
    fn builtin(&mut self, which: Builtin) -> u64;
    /// The command name, 16 bytes NUL-padded.
    fn comm(&mut self, dst: &mut [u8]);
    /// Copy memory at `addr`; false on a fault (the JIT zeroes `dst` then).
    fn read(&mut self, dst: &mut [u8], addr: u64, user: bool) -> bool;
    /// Copy a NUL-terminated string at `addr`; the JIT enforces the final NUL
    /// and the zero padding after it.
    fn read_str(&mut self, dst: &mut [u8], addr: u64, user: bool);
    /// The `index`-th entry of `map` in iteration order (value descending, ties
    /// by key; per-CPU values merged as for `map_read`): copies its key and
    /// value; false past the last entry. Index 0 takes a fresh snapshot.
    /// `cursor` tells loops apart: each has its own snapshot.
    fn map_entry(
        &mut self,
        map: MapId,
        cursor: u32,
        index: u64,
        key: &mut [u8],
        value: &mut [u8],
    ) -> bool {
        let _ = (map, cursor, index, key, value);
        false
    }
    /// The number of entries in `map`.
    fn map_len(&mut self, map: MapId) -> u64 {
        let _ = map;
        0
    }
}

/// What compiled functions receive as their only argument.
pub struct HostRef<'a> {
    host: &'a mut dyn Host,
    panic: Option<Box<dyn Any + Send>>,
}

impl<'a> HostRef<'a> {
    fn new(host: &'a mut dyn Host) -> HostRef<'a> {
        HostRef { host, panic: None }
    }

    /// Re-raise a panic caught during the run, if any.
    fn finish(self) {
        if let Some(payload) = self.panic {
            resume_unwind(payload);
        }
    }

    /// Call the host unless an earlier call panicked; `fallback` is returned then.
    fn call<R>(&mut self, fallback: R, f: impl FnOnce(&mut dyn Host) -> R) -> R {
        if self.panic.is_some() {
            return fallback;
        }
        let host = &mut *self.host;
        match catch_unwind(AssertUnwindSafe(|| f(host))) {
            Ok(r) => r,
            Err(payload) => {
                self.panic = Some(payload);
                fallback
            }
        }
    }
}

/// A compiled block as the machine sees it: `extern "C" fn(host: *mut HostRef)`.
pub(crate) type Entry = unsafe extern "C" fn(*mut HostRef<'_>);

/// # Safety
/// `code` must be the finalized address of a function compiled with
/// `codegen::entry_signature` from IR that passed `validate`, and its memory
/// must stay mapped for as long as the returned `Entry` is called.
pub(crate) unsafe fn entry_from_code(code: *const u8) -> Entry {
    // SAFETY: the caller guarantees `code` is such a function; `Entry` is its
    // exact ABI (one pointer argument, no result, the platform C convention).
    unsafe { std::mem::transmute::<*const u8, Entry>(code) }
}

/// Run a compiled block against `host`, re-raising any panic of the host.
pub(crate) fn invoke(entry: Entry, host: &mut dyn Host) {
    let mut href = HostRef::new(host);
    // SAFETY: `entry` came from `entry_from_code` and its module is alive (the
    // caller owns it); `href` lives across the call and is only reached
    // through the pointer meanwhile, as the trampolines require.
    unsafe { entry(&mut href) };
    href.finish();
}

/// The kind of a trampoline parameter after the leading `*mut HostRef`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Param {
    /// A pointer into one of the compiled function's stack slots (or null).
    Ptr,
    /// A 64-bit integer (lengths, ids, values).
    U64,
}

/// The trampolines compiled code may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum HostFn {
    MapRead,
    MapWrite,
    MapAgg,
    MapDelete,
    Emit,
    Builtin,
    Comm,
    Read,
    ReadStr,
    MapEntry,
    MapLen,
}

impl HostFn {
    pub(crate) const ALL: [HostFn; 11] = [
        HostFn::MapRead,
        HostFn::MapWrite,
        HostFn::MapAgg,
        HostFn::MapDelete,
        HostFn::Emit,
        HostFn::Builtin,
        HostFn::Comm,
        HostFn::Read,
        HostFn::ReadStr,
        HostFn::MapEntry,
        HostFn::MapLen,
    ];

    /// The symbol the trampoline is registered under in the `JITModule`.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            HostFn::MapRead => "rtrace_jit_map_read",
            HostFn::MapWrite => "rtrace_jit_map_write",
            HostFn::MapAgg => "rtrace_jit_map_agg",
            HostFn::MapDelete => "rtrace_jit_map_delete",
            HostFn::Emit => "rtrace_jit_emit",
            HostFn::Builtin => "rtrace_jit_builtin",
            HostFn::Comm => "rtrace_jit_comm",
            HostFn::Read => "rtrace_jit_read",
            HostFn::ReadStr => "rtrace_jit_read_str",
            HostFn::MapEntry => "rtrace_jit_map_entry",
            HostFn::MapLen => "rtrace_jit_map_len",
        }
    }

    /// Parameters after the host pointer; must match the `extern "C"` fns below.
    pub(crate) fn params(self) -> &'static [Param] {
        use Param::{Ptr, U64};
        match self {
            // map, key, key_len, dst, dst_len
            HostFn::MapRead | HostFn::MapWrite => &[U64, Ptr, U64, Ptr, U64],
            // map, key, key_len, op, val
            HostFn::MapAgg => &[U64, Ptr, U64, U64, U64],
            // map, key, key_len
            HostFn::MapDelete => &[U64, Ptr, U64],
            // record, len
            HostFn::Emit => &[Ptr, U64],
            // which
            HostFn::Builtin => &[U64],
            // dst (16 bytes)
            HostFn::Comm => &[Ptr],
            // dst, len, addr, user
            HostFn::Read | HostFn::ReadStr => &[Ptr, U64, U64, U64],
            // map | cursor << 32, index, key, key_len, value, value_len
            HostFn::MapEntry => &[U64, U64, Ptr, U64, Ptr, U64],
            // map
            HostFn::MapLen => &[U64],
        }
    }

    /// Whether the trampoline returns a u64.
    pub(crate) fn returns_value(self) -> bool {
        matches!(
            self,
            HostFn::MapRead | HostFn::Builtin | HostFn::MapEntry | HostFn::MapLen
        )
    }

    pub(crate) fn address(self) -> *const u8 {
        match self {
            HostFn::MapRead => map_read as *const u8,
            HostFn::MapWrite => map_write as *const u8,
            HostFn::MapAgg => map_agg as *const u8,
            HostFn::MapDelete => map_delete as *const u8,
            HostFn::Emit => emit as *const u8,
            HostFn::Builtin => builtin as *const u8,
            HostFn::Comm => comm as *const u8,
            HostFn::Read => read as *const u8,
            HostFn::ReadStr => read_str as *const u8,
            HostFn::MapEntry => map_entry as *const u8,
            HostFn::MapLen => map_len as *const u8,
        }
    }
}

const BUILTINS: [Builtin; 13] = [
    Builtin::Pid,
    Builtin::Tid,
    Builtin::Uid,
    Builtin::Gid,
    Builtin::Nsecs,
    Builtin::Elapsed,
    Builtin::Cpu,
    Builtin::Rand,
    Builtin::Cgroup,
    Builtin::CurTask,
    Builtin::AttachCookie,
    Builtin::FuncIp,
    Builtin::NumaId,
];

const AGG_OPS: [AggOp; 4] = [AggOp::Count, AggOp::Add, AggOp::Min, AggOp::Max];

/// The number compiled code passes for a builtin.
pub(crate) fn builtin_code(which: Builtin) -> u64 {
    BUILTINS.iter().position(|b| *b == which).unwrap_or(0) as u64
}

/// The number compiled code passes for an aggregation op.
pub(crate) fn agg_code(op: AggOp) -> u64 {
    AGG_OPS.iter().position(|o| *o == op).unwrap_or(0) as u64
}

/// Make a string result well formed: NUL-terminated within `dst` and zero after
/// the first NUL, so strings compare and hash by value.
pub(crate) fn terminate_str(dst: &mut [u8]) {
    let Some(last) = dst.len().checked_sub(1) else {
        return;
    };
    let end = dst[..last].iter().position(|&c| c == 0).unwrap_or(last);
    dst[end..].fill(0);
}

// ---- the unsafe part: raw pointers from compiled code back to references ----
//
// Invariants the code generator guarantees (checked by `validate` before any
// code is generated):
// - `href` is the pointer `JitProgram::run` created from a live `HostRef` that is
//   not otherwise borrowed while the compiled function runs;
// - every (pointer, length) pair addresses bytes inside one stack slot of the
//   calling compiled function, which outlives the call;
// - a key and a destination passed to the same call never overlap;
// - a null pointer is passed only for absent keys (with length 0).

/// # Safety
/// `href` must satisfy the invariants above.
unsafe fn host_ref<'r>(href: *mut HostRef<'_>) -> &'r mut HostRef<'r> {
    // SAFETY: see the invariants above; the lifetime is limited to one call.
    unsafe { &mut *href.cast::<HostRef<'r>>() }
}

/// # Safety
/// `ptr`/`len` must satisfy the invariants above.
unsafe fn bytes<'r>(ptr: *const u8, len: u64) -> &'r [u8] {
    // SAFETY: `ptr` addresses `len` readable bytes in a live stack slot.
    unsafe { std::slice::from_raw_parts(ptr, len as usize) }
}

/// # Safety
/// `ptr`/`len` must satisfy the invariants above.
unsafe fn bytes_mut<'r>(ptr: *mut u8, len: u64) -> &'r mut [u8] {
    // SAFETY: `ptr` addresses `len` writable bytes in a live stack slot that
    // nothing else references during the call.
    unsafe { std::slice::from_raw_parts_mut(ptr, len as usize) }
}

/// # Safety
/// As for [`bytes`]; null means "no key".
unsafe fn key<'r>(ptr: *const u8, len: u64) -> Option<&'r [u8]> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: forwarded from the caller.
        Some(unsafe { bytes(ptr, len) })
    }
}

extern "C" fn map_read(
    href: *mut HostRef<'_>,
    map: u64,
    key_ptr: *const u8,
    key_len: u64,
    dst: *mut u8,
    dst_len: u64,
) -> u64 {
    // SAFETY: pointers come from compiled code (see the invariants above).
    let (h, key, dst) = unsafe {
        (
            host_ref(href),
            key(key_ptr, key_len),
            bytes_mut(dst, dst_len),
        )
    };
    let found = h.call(false, |host| host.map_read(map as MapId, key, dst));
    if !found {
        dst.fill(0);
    }
    found as u64
}

extern "C" fn map_write(
    href: *mut HostRef<'_>,
    map: u64,
    key_ptr: *const u8,
    key_len: u64,
    src: *const u8,
    src_len: u64,
) {
    // SAFETY: pointers come from compiled code (see the invariants above).
    let (h, key, src) = unsafe { (host_ref(href), key(key_ptr, key_len), bytes(src, src_len)) };
    h.call((), |host| host.map_write(map as MapId, key, src));
}

extern "C" fn map_agg(
    href: *mut HostRef<'_>,
    map: u64,
    key_ptr: *const u8,
    key_len: u64,
    op: u64,
    val: u64,
) {
    // SAFETY: pointers come from compiled code (see the invariants above).
    let (h, key) = unsafe { (host_ref(href), key(key_ptr, key_len)) };
    let op = AGG_OPS[op as usize % AGG_OPS.len()];
    h.call((), |host| host.map_agg(map as MapId, key, op, val as i64));
}

extern "C" fn map_delete(href: *mut HostRef<'_>, map: u64, key_ptr: *const u8, key_len: u64) {
    // SAFETY: pointers come from compiled code (see the invariants above).
    let (h, key) = unsafe { (host_ref(href), key(key_ptr, key_len)) };
    h.call((), |host| host.map_delete(map as MapId, key));
}

extern "C" fn emit(href: *mut HostRef<'_>, record: *const u8, len: u64) {
    // SAFETY: pointers come from compiled code (see the invariants above).
    let (h, record) = unsafe { (host_ref(href), bytes(record, len)) };
    h.call((), |host| host.emit(record));
}

extern "C" fn builtin(href: *mut HostRef<'_>, which: u64) -> u64 {
    // SAFETY: `href` comes from compiled code (see the invariants above).
    let h = unsafe { host_ref(href) };
    let which = BUILTINS[which as usize % BUILTINS.len()];
    h.call(0, |host| host.builtin(which))
}

extern "C" fn comm(href: *mut HostRef<'_>, dst: *mut u8) {
    // SAFETY: pointers come from compiled code; the slot has 16 bytes there.
    let (h, dst) = unsafe { (host_ref(href), bytes_mut(dst, 16)) };
    dst.fill(0);
    h.call((), |host| host.comm(dst));
    terminate_str(dst);
}

extern "C" fn read(href: *mut HostRef<'_>, dst: *mut u8, len: u64, addr: u64, user: u64) {
    // SAFETY: pointers come from compiled code (see the invariants above).
    let (h, dst) = unsafe { (host_ref(href), bytes_mut(dst, len)) };
    if !h.call(false, |host| host.read(dst, addr, user != 0)) {
        dst.fill(0);
    }
}

extern "C" fn read_str(href: *mut HostRef<'_>, dst: *mut u8, len: u64, addr: u64, user: u64) {
    // SAFETY: pointers come from compiled code (see the invariants above).
    let (h, dst) = unsafe { (host_ref(href), bytes_mut(dst, len)) };
    dst.fill(0);
    h.call((), |host| host.read_str(dst, addr, user != 0));
    terminate_str(dst);
}

extern "C" fn map_entry(
    href: *mut HostRef<'_>,
    map_and_cursor: u64,
    index: u64,
    key_ptr: *mut u8,
    key_len: u64,
    value_ptr: *mut u8,
    value_len: u64,
) -> u64 {
    // SAFETY: pointers come from compiled code (see the invariants above); the
    // key and value buffers are distinct slots.
    let (h, key, value) = unsafe {
        (
            host_ref(href),
            bytes_mut(key_ptr, key_len),
            bytes_mut(value_ptr, value_len),
        )
    };
    let (map, cursor) = (map_and_cursor as u32, (map_and_cursor >> 32) as u32);
    let found = h.call(false, |host| {
        host.map_entry(map as MapId, cursor, index, key, value)
    });
    if !found {
        key.fill(0);
        value.fill(0);
    }
    found as u64
}

extern "C" fn map_len(href: *mut HostRef<'_>, map: u64) -> u64 {
    // SAFETY: `href` comes from compiled code (see the invariants above).
    let h = unsafe { host_ref(href) };
    h.call(0, |host| host.map_len(map as MapId))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminate_str_zeroes_after_first_nul_and_forces_last_byte() {
        let mut s = *b"ab\0cd";
        terminate_str(&mut s);
        assert_eq!(&s, b"ab\0\0\0");
        let mut full = *b"abcd";
        terminate_str(&mut full);
        assert_eq!(&full, b"abc\0");
    }

    #[test]
    fn codes_round_trip() {
        for b in BUILTINS {
            assert_eq!(BUILTINS[builtin_code(b) as usize], b);
        }
        for op in AGG_OPS {
            assert_eq!(AGG_OPS[agg_code(op) as usize], op);
        }
    }
}
