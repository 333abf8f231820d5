//! The one audited place for raw kernel calls: `bpf(2)` map commands on a map fd
//! with byte-slice keys and values, `BPF_PROG_LOAD`, `perf_event_open(2)` and its
//! ioctls, and `BPF_RAW_TRACEPOINT_OPEN`.
//!
//! aya's typed map wrappers want `Pod` Rust types; rtrace keys and values are
//! runtime-shaped byte strings, so map access goes through these helpers instead.

use std::collections::HashSet;
use std::ffi::CStr;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;

/// `BPF_MAP_UPDATE_ELEM` flags.
pub const BPF_ANY: u64 = 0;
pub const BPF_NOEXIST: u64 = 1;
pub const BPF_EXIST: u64 = 2;

/// `union bpf_attr` for the map element commands.
#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    /// `value` or `next_key`, depending on the command.
    value: u64,
    flags: u64,
}

/// `union bpf_attr` for `BPF_OBJ_GET_INFO_BY_FD`.
#[repr(C)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// `union bpf_attr` for `BPF_RAW_TRACEPOINT_OPEN`.
#[repr(C)]
struct RawTpAttr {
    name: u64,
    prog_fd: u32,
    _pad: u32,
    cookie: u64,
}

/// `union bpf_attr` for `BPF_PROG_LOAD`, up to `line_info_rec_size` (the kernel
/// zero-fills the fields after it).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    /// Named so the struct has no padding: the kernel reads these bytes.
    line_info_rec_size: u32,
}

/// The leading part of the kernel's `struct bpf_map_info` (the kernel accepts a
/// shorter buffer and fills what fits).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MapInfo {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub name: [u8; 16],
}

impl MapInfo {
    /// The kernel object name (up to 15 characters).
    pub fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

/// Issues one `bpf(2)` command with `attr` and returns the non-negative result.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, properly sized `#[repr(C)]` prefix of `union bpf_attr`
    // for `cmd`; every pointer inside it refers to a buffer the caller keeps alive and
    // sized as the map (or command) requires for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn is_enoent(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ENOENT)
}

/// Copies the value stored under `key` into `value` (which must be exactly the
/// map's value size; per-CPU maps need [`percpu_buffer_len`] bytes).
/// Returns `Ok(false)` if the key is absent.
pub fn lookup(map: BorrowedFd<'_>, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        value: value.as_mut_ptr() as u64,
        ..Default::default()
    };
    match bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if is_enoent(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Inserts or replaces `key` (`flags`: [`BPF_ANY`], [`BPF_NOEXIST`], [`BPF_EXIST`]).
pub fn update(map: BorrowedFd<'_>, key: &[u8], value: &[u8], flags: u64) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        value: value.as_ptr() as u64,
        flags,
        ..Default::default()
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(|_| ())
}

/// Deletes `key`; `Ok(false)` if it was not there. Arrays refuse deletion (EINVAL).
pub fn delete(map: BorrowedFd<'_>, key: &[u8]) -> io::Result<bool> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        ..Default::default()
    };
    match bpf(BPF_MAP_DELETE_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if is_enoent(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes the key after `key` (or the first key for `None`) into `next`.
/// Returns `Ok(false)` at the end of the map.
pub fn next_key(map: BorrowedFd<'_>, key: Option<&[u8]>, next: &mut [u8]) -> io::Result<bool> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.map_or(0, |k| k.as_ptr() as u64),
        value: next.as_mut_ptr() as u64,
        ..Default::default()
    };
    match bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if is_enoent(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// All keys of a map, each once.
///
/// Iteration tolerates concurrent deletes: when the kernel loses its place (the
/// previous key was deleted) a hash map restarts from its first key, so keys seen
/// before are skipped and the walk is bounded by `max_entries`.
pub fn keys(map: BorrowedFd<'_>, key_size: u32, max_entries: u32) -> io::Result<Vec<Vec<u8>>> {
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut ordered = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    // Each restart can revisit at most every key once more; bound the total work.
    let mut budget = (max_entries as u64 + 1) * 4;
    loop {
        let mut next = vec![0u8; key_size as usize];
        if !next_key(map, current.as_deref(), &mut next)? {
            break;
        }
        if seen.insert(next.clone()) {
            ordered.push(next.clone());
        }
        current = Some(next);
        budget -= 1;
        if budget == 0 {
            break;
        }
    }
    Ok(ordered)
}

/// Number of possible CPUs (`/sys/devices/system/cpu/possible`): the number of
/// value slots the kernel returns for a per-CPU map entry.
pub fn possible_cpus() -> io::Result<usize> {
    static POSSIBLE: OnceLock<usize> = OnceLock::new();
    if let Some(n) = POSSIBLE.get() {
        return Ok(*n);
    }
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible")?;
    let cpus = parse_cpu_list(&text)?;
    let n = cpus.iter().max().map_or(1, |&m| m as usize + 1);
    Ok(*POSSIBLE.get_or_init(|| n))
}

/// CPUs that are online now (`/sys/devices/system/cpu/online`): where per-CPU perf
/// events can be opened.
pub fn online_cpus() -> io::Result<Vec<u32>> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online")?;
    parse_cpu_list(&text)
}

/// Parses a kernel CPU list such as `0-3,5,7-8`.
pub fn parse_cpu_list(text: &str) -> io::Result<Vec<u32>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("bad CPU list {text:?}"));
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo, hi),
            None => (part, part),
        };
        let lo: u32 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u32 = hi.trim().parse().map_err(|_| bad())?;
        if hi < lo {
            return Err(bad());
        }
        cpus.extend(lo..=hi);
    }
    Ok(cpus)
}

/// Bytes one CPU's value occupies in a per-CPU lookup/update buffer.
pub fn percpu_stride(value_size: u32) -> usize {
    (value_size as usize).div_ceil(8) * 8
}

/// Size of the buffer a per-CPU lookup or update needs.
pub fn percpu_buffer_len(value_size: u32) -> io::Result<usize> {
    Ok(percpu_stride(value_size) * possible_cpus()?)
}

/// Looks up a per-CPU entry: one `value_size`-byte vector per possible CPU, or
/// `None` if the key is absent.
pub fn lookup_percpu(
    map: BorrowedFd<'_>,
    key: &[u8],
    value_size: u32,
) -> io::Result<Option<Vec<Vec<u8>>>> {
    let mut buf = vec![0u8; percpu_buffer_len(value_size)?];
    if !lookup(map, key, &mut buf)? {
        return Ok(None);
    }
    let stride = percpu_stride(value_size);
    let values = buf
        .chunks(stride)
        .map(|c| c[..value_size as usize].to_vec())
        .collect();
    Ok(Some(values))
}

/// Writes a per-CPU entry; `values` holds one value per possible CPU (missing
/// CPUs are written as zero).
pub fn update_percpu(
    map: BorrowedFd<'_>,
    key: &[u8],
    value_size: u32,
    values: &[Vec<u8>],
    flags: u64,
) -> io::Result<()> {
    let stride = percpu_stride(value_size);
    let mut buf = vec![0u8; percpu_buffer_len(value_size)?];
    for (slot, value) in buf.chunks_mut(stride).zip(values) {
        let n = value.len().min(value_size as usize);
        slot[..n].copy_from_slice(&value[..n]);
    }
    update(map, key, &buf, flags)
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a map fd.
pub fn map_info(map: BorrowedFd<'_>) -> io::Result<MapInfo> {
    let mut info = MapInfo::default();
    let mut attr = InfoAttr {
        bpf_fd: map.as_raw_fd() as u32,
        info_len: size_of::<MapInfo>() as u32,
        info: &mut info as *mut MapInfo as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(info)
}

/// The leading part of the kernel's `struct bpf_prog_info`, through `name`.
#[repr(C)]
#[derive(Default)]
struct ProgInfoRaw {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; 16],
}

/// What the kernel says about a loaded program.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgInfo {
    pub prog_type: u32,
    pub id: u32,
    /// The kernel object name (up to 15 characters).
    pub name: String,
    /// Ids of the maps the program uses.
    pub map_ids: Vec<u32>,
}

fn prog_info_raw(prog: BorrowedFd<'_>, map_ids: &mut [u32]) -> io::Result<ProgInfoRaw> {
    let mut info = ProgInfoRaw {
        nr_map_ids: map_ids.len() as u32,
        map_ids: map_ids.as_mut_ptr() as u64,
        ..Default::default()
    };
    let mut attr = InfoAttr {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: size_of::<ProgInfoRaw>() as u32,
        info: &mut info as *mut ProgInfoRaw as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(info)
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a program fd, with the ids of its maps.
pub fn prog_info(prog: BorrowedFd<'_>) -> io::Result<ProgInfo> {
    let count = prog_info_raw(prog, &mut [])?.nr_map_ids;
    let mut map_ids = vec![0u32; count as usize];
    let info = prog_info_raw(prog, &mut map_ids)?;
    map_ids.truncate(info.nr_map_ids as usize);
    let end = info.name.iter().position(|&b| b == 0).unwrap_or(16);
    Ok(ProgInfo {
        prog_type: info.prog_type,
        id: info.id,
        name: String::from_utf8_lossy(&info.name[..end]).into_owned(),
        map_ids,
    })
}

/// Takes ownership of a descriptor a syscall just returned.
fn owned_fd(ret: libc::c_long) -> OwnedFd {
    // SAFETY: `ret` is a fresh descriptor returned by the kernel to this process and
    // nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(ret as RawFd) }
}

/// Attaches a raw-tracepoint program (`BPF_RAW_TRACEPOINT_OPEN`); closing the
/// returned fd detaches it.
pub fn raw_tracepoint_open(name: &CStr, prog: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut attr = RawTpAttr {
        name: name.as_ptr() as u64,
        prog_fd: prog.as_raw_fd() as u32,
        _pad: 0,
        cookie: 0,
    };
    bpf(BPF_RAW_TRACEPOINT_OPEN, &mut attr).map(owned_fd)
}

// ---- program loading ----

/// `enum bpf_prog_type` values rtrace loads.
pub const BPF_PROG_TYPE_KPROBE: u32 = 2;
pub const BPF_PROG_TYPE_TRACEPOINT: u32 = 5;
pub const BPF_PROG_TYPE_PERF_EVENT: u32 = 7;
pub const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;

/// `prog_flags` bit for sleepable programs (`uprobe.s`).
pub const BPF_F_SLEEPABLE: u32 = 1 << 4;

/// The largest verifier log older kernels accept (`UINT_MAX >> 8`).
pub const MAX_VERIFIER_LOG: usize = (u32::MAX >> 8) as usize;

/// Size of one eBPF instruction.
pub const INSN_SIZE: usize = 8;

/// What `BPF_PROG_LOAD` needs to know about one program.
pub struct ProgLoad<'a> {
    pub prog_type: u32,
    /// Encoded instructions, [`INSN_SIZE`] bytes each.
    pub insns: &'a [u8],
    pub license: &'a CStr,
    /// Kernel object name: at most 15 bytes of `[A-Za-z0-9_]` are sent.
    pub name: &'a str,
    /// `LINUX_VERSION_CODE`, checked for kprobes by kernels before 5.0; 0 otherwise.
    pub kern_version: u32,
    pub flags: u32,
    /// `expected_attach_type` (0 unless a link type needs it, e.g. uprobe_multi).
    pub expected_attach_type: u32,
    /// BTF object and `bpf_func_info` records (8 bytes each) for programs
    /// with subprograms (`func_info`).
    pub func_info: Option<(std::os::fd::RawFd, &'a [u8])>,
}

/// Loads a program into the kernel (the verifier runs now). With `log`, the
/// verifier writes its level-1 log there (NUL-terminated); an `ENOSPC` error then
/// means the log did not fit.
pub fn prog_load(prog: &ProgLoad<'_>, log: Option<&mut [u8]>) -> io::Result<OwnedFd> {
    let mut attr = ProgLoadAttr {
        prog_type: prog.prog_type,
        insn_cnt: (prog.insns.len() / INSN_SIZE) as u32,
        insns: prog.insns.as_ptr() as u64,
        license: prog.license.as_ptr() as u64,
        kern_version: prog.kern_version,
        prog_flags: prog.flags,
        prog_name: kernel_object_name(prog.name),
        expected_attach_type: prog.expected_attach_type,
        ..Default::default()
    };
    if let Some((btf, records)) = prog.func_info {
        attr.prog_btf_fd = btf as u32;
        attr.func_info_rec_size = 8;
        attr.func_info = records.as_ptr() as u64;
        attr.func_info_cnt = (records.len() / 8) as u32;
    }
    if let Some(log) = log {
        attr.log_level = 1;
        attr.log_size = log.len().min(MAX_VERIFIER_LOG) as u32;
        attr.log_buf = log.as_mut_ptr() as u64;
    }
    bpf(BPF_PROG_LOAD, &mut attr).map(owned_fd)
}

#[repr(C)]
#[derive(Default)]
struct BtfLoadAttr {
    btf: u64,
    btf_log_buf: u64,
    btf_size: u32,
    btf_log_size: u32,
    btf_log_level: u32,
}

/// `BPF_BTF_LOAD`
const BPF_BTF_LOAD: libc::c_long = 18;

/// Loads a BTF blob and returns its fd.
pub fn btf_load(blob: &[u8]) -> io::Result<OwnedFd> {
    let mut attr = BtfLoadAttr {
        btf: blob.as_ptr() as u64,
        btf_size: blob.len() as u32,
        ..Default::default()
    };
    bpf(BPF_BTF_LOAD, &mut attr).map(owned_fd)
}

/// A kernel object name: characters outside `[A-Za-z0-9_]` become `_`, cut to 15
/// bytes, NUL-padded (the kernel refuses other characters).
pub fn kernel_object_name(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (slot, b) in out[..15].iter_mut().zip(name.bytes()) {
        *slot = if b.is_ascii_alphanumeric() { b } else { b'_' };
    }
    out
}

// ---- perf events ----

pub const PERF_TYPE_HARDWARE: u32 = 0;
pub const PERF_TYPE_SOFTWARE: u32 = 1;
pub const PERF_TYPE_TRACEPOINT: u32 = 2;

/// `perf_event_attr.flags` bits used here.
pub const PERF_ATTR_DISABLED: u64 = 1 << 0;
pub const PERF_ATTR_FREQ: u64 = 1 << 10;

const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;

/// `struct perf_event_attr` up to `PERF_ATTR_SIZE_VER5` (112 bytes) — everything
/// rtrace sets. The bitfield word is exposed as `flags`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PerfEventAttr {
    pub kind: u32,
    pub size: u32,
    pub config: u64,
    /// `sample_period`, or `sample_freq` when [`PERF_ATTR_FREQ`] is set.
    pub sample_period_or_freq: u64,
    pub sample_type: u64,
    pub read_format: u64,
    pub flags: u64,
    pub wakeup_events: u32,
    pub bp_type: u32,
    /// `config1` (also `bp_addr`, `kprobe_func`, `uprobe_path`).
    pub config1: u64,
    /// `config2` (also `bp_len`, `kprobe_addr`, `probe_offset`).
    pub config2: u64,
    pub branch_sample_type: u64,
    pub sample_regs_user: u64,
    pub sample_stack_user: u32,
    pub clockid: i32,
    pub sample_regs_intr: u64,
    pub aux_watermark: u32,
    pub sample_max_stack: u16,
    pub _reserved: u16,
}

impl PerfEventAttr {
    pub fn new(kind: u32, config: u64) -> PerfEventAttr {
        PerfEventAttr {
            kind,
            size: size_of::<PerfEventAttr>() as u32,
            config,
            ..Default::default()
        }
    }
}

/// `perf_event_open(2)` with `group_fd = -1` and close-on-exec.
pub fn perf_event_open(attr: &PerfEventAttr, pid: i32, cpu: i32) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a valid `perf_event_attr` prefix whose `size` field matches
    // its length; pointer-valued fields (config1 for probe PMUs) point at NUL-terminated
    // strings the caller keeps alive across the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr as *const PerfEventAttr,
            pid as libc::c_int,
            cpu as libc::c_int,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(owned_fd(ret))
    }
}

const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
const PERF_EVENT_IOC_DISABLE: libc::c_ulong = 0x2401;
const PERF_EVENT_IOC_SET_BPF: libc::c_ulong = 0x4004_2408;

fn perf_ioctl(perf: BorrowedFd<'_>, request: libc::c_ulong, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: both requests take an integer argument (a flag word or a program fd),
    // never a pointer, and `perf` is an open perf event descriptor.
    let ret = unsafe { libc::ioctl(perf.as_raw_fd(), request as _, arg) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Runs `prog` on every occurrence of the perf event (`PERF_EVENT_IOC_SET_BPF`).
pub fn perf_event_set_bpf(perf: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    perf_ioctl(
        perf,
        PERF_EVENT_IOC_SET_BPF,
        prog.as_raw_fd() as libc::c_ulong,
    )
}

/// `PERF_EVENT_IOC_ENABLE`.
pub fn perf_event_enable(perf: BorrowedFd<'_>) -> io::Result<()> {
    perf_ioctl(perf, PERF_EVENT_IOC_ENABLE, 0)
}

/// `PERF_EVENT_IOC_DISABLE`: the event stops at once (closing it waits for RCU).
pub fn perf_event_disable(perf: BorrowedFd<'_>) -> io::Result<()> {
    perf_ioctl(perf, PERF_EVENT_IOC_DISABLE, 0)
}

// ---- eventfd and epoll (the event loop's wait) ----

/// A non-blocking, close-on-exec eventfd.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(owned_fd(ret as libc::c_long))
    }
}

/// Adds 1 to an eventfd counter. Async-signal-safe: one `write(2)` of a stack
/// buffer, no allocation, no locks; errors (counter full) are ignored because the
/// fd is readable either way.
pub fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live stack variable to an fd; a stale fd at
    // worst makes the write fail, which is ignored.
    let _ = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

/// Resets an eventfd counter (non-blocking read); true if it was signalled.
pub fn eventfd_drain(fd: BorrowedFd<'_>) -> bool {
    let mut value: u64 = 0;
    // SAFETY: reads at most 8 bytes into a live stack variable.
    let ret = unsafe { libc::read(fd.as_raw_fd(), (&mut value as *mut u64).cast(), 8) };
    ret == 8
}

pub fn epoll_create() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with an integer flag.
    let ret = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(owned_fd(ret as libc::c_long))
    }
}

/// Watches `fd` for readability; `epoll_wait` reports it as `token`.
pub fn epoll_add(epoll: BorrowedFd<'_>, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
    let mut event = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: token,
    };
    // SAFETY: `event` is a valid epoll_event the kernel copies during the call.
    let ret = unsafe {
        libc::epoll_ctl(
            epoll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd.as_raw_fd(),
            &mut event,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Waits up to `timeout_ms` (-1: forever) and returns the tokens of ready fds.
/// An interrupting signal returns no tokens rather than an error.
pub fn epoll_wait(epoll: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<Vec<u64>> {
    const MAX_EVENTS: usize = 8;
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
    // SAFETY: the kernel writes at most MAX_EVENTS entries into `events`.
    let ret = unsafe {
        libc::epoll_wait(
            epoll.as_raw_fd(),
            events.as_mut_ptr(),
            MAX_EVENTS as libc::c_int,
            timeout_ms,
        )
    };
    if ret < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINTR) {
            return Ok(Vec::new());
        }
        return Err(err);
    }
    Ok(events[..ret as usize].iter().map(|e| e.u64).collect())
}

// ---- facts about the current task (user-space builtins) ----

/// `CLOCK_MONOTONIC` in nanoseconds: the clock `bpf_ktime_get_ns()` reads.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec the call fills; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The calling thread's id.
pub fn gettid() -> u32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::gettid() as u32 }
}

/// Real user and group ids of this process.
pub fn uid_gid() -> (u32, u32) {
    // SAFETY: getuid/getgid have no arguments and cannot fail.
    unsafe { (libc::getuid(), libc::getgid()) }
}

/// The CPU the calling thread runs on now (0 if unknown).
/// NUMA node of the CPU this thread runs on (`getcpu(2)`; 0 if it fails).
pub fn current_numa_node() -> u32 {
    let (mut cpu, mut node) = (0u32, 0u32);
    // SAFETY: getcpu writes two u32s through valid pointers; the cache argument may be null.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_getcpu,
            &mut cpu as *mut u32,
            &mut node as *mut u32,
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    if rc == 0 {
        node
    } else {
        0
    }
}

pub fn current_cpu() -> u32 {
    // SAFETY: sched_getcpu has no arguments; it returns -1 on failure.
    let cpu = unsafe { libc::sched_getcpu() };
    cpu.max(0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0-1\n").unwrap(), vec![0, 1]);
        assert_eq!(parse_cpu_list("0,2-3,7").unwrap(), vec![0, 2, 3, 7]);
        assert_eq!(parse_cpu_list("5").unwrap(), vec![5]);
        assert!(parse_cpu_list("3-1").is_err());
    }

    #[test]
    fn percpu_values_are_8_aligned() {
        assert_eq!(percpu_stride(8), 8);
        assert_eq!(percpu_stride(12), 16);
        assert_eq!(percpu_stride(16), 16);
    }

    #[test]
    fn object_names_are_sanitised_and_cut() {
        assert_eq!(&kernel_object_name("rtrace_m3")[..10], b"rtrace_m3\0");
        let long = kernel_object_name("tracepoint:syscalls@x.y");
        assert_eq!(&long[..15], b"tracepoint_sysc");
        assert_eq!(long[15], 0);
    }

    #[test]
    fn prog_load_attr_covers_func_info_without_padding() {
        // prog_type … line_info_rec_size ends at byte 96 of `union bpf_attr`.
        assert_eq!(size_of::<ProgLoadAttr>(), 96);
    }

    #[test]
    fn perf_attr_has_the_ver5_size() {
        assert_eq!(size_of::<PerfEventAttr>(), 112);
    }

    #[test]
    fn prog_info_layout_matches_the_kernel_prefix() {
        // `name` ends at byte 80 of `struct bpf_prog_info`.
        assert_eq!(size_of::<ProgInfoRaw>(), 80);
    }

    #[test]
    fn map_info_layout_matches_the_kernel_prefix() {
        assert_eq!(size_of::<MapInfo>(), 40);
    }
}
