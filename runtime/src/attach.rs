//! Attaching loaded programs to kernel events, one probe at a time.
//!
//! Every attachment is a set of perf-event (or raw-tracepoint) fds owned by
//! rtrace: a program runs on an event from `PERF_EVENT_IOC_SET_BPF` until its fd
//! is closed. Owning the fds directly (instead of aya's link objects) lets probes
//! be detached individually while others keep running, and lets the expensive part
//! of detaching happen in parallel.
//!
//! Why detaching tracepoints is slow: closing the last perf event of a tracepoint
//! makes the kernel wait for RCU grace periods twice (`perf_event_detach_bpf_prog`
//! waits for RCU-tasks-trace; `perf_trace_event_unreg` waits for RCU-tasks-trace and
//! RCU) — tens of milliseconds per tracepoint, under global mutexes. That is what
//! makes bpftrace take ~24 s to leave 363 syscall tracepoints. Whether the program
//! is attached with `PERF_EVENT_IOC_SET_BPF` or a BPF perf link makes no
//! difference: both release through the same two functions. Closing from a few
//! threads lets the two serialized waits overlap (measured on 360 syscall
//! tracepoints: 26.6 s serial, 12.6 s in parallel). Raw tracepoints
//! (`BPF_RAW_TRACEPOINT_OPEN`) detach without waiting for a grace period: 360 attach
//! in ~70 ms and detach in ~70 ms.

use crate::loader::{Loaded, ProgramKind};
use crate::sys::{self, PerfEventAttr};
use std::collections::HashMap;
use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What a program is attached to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttachTarget {
    /// `tracepoint:category:name` (a `BPF_PROG_TYPE_TRACEPOINT` program).
    Tracepoint { category: String, name: String },
    /// A raw tracepoint such as `sched_switch` (a `raw_tp` program).
    RawTracepoint { name: String },
    /// An fentry (fexit with `ret`) program; the function was fixed when it was loaded.
    Fentry { function: String, ret: bool },
    /// A sampling perf event on every online CPU (`profile:`, `software:`, `hardware:`).
    PerfEvent { kind: PerfKind, sample: Sample },
    /// `kprobe:function+offset` / `kretprobe:function`.
    Kprobe {
        function: String,
        offset: u64,
        retprobe: bool,
    },
    /// `uprobe:path:…` at a file offset; `ref_ctr_offset` is the USDT semaphore's
    /// file offset (0 for none), `pid` limits the probe to one process.
    Uprobe {
        path: PathBuf,
        offset: u64,
        retprobe: bool,
        pid: Option<i32>,
        ref_ctr_offset: u64,
    },
    /// Many uprobe sites of one binary on one `uprobe_multi` link (per-site
    /// perf events with cookies where the kernel refuses that); see `multi_link.rs`.
    UprobeMulti {
        path: PathBuf,
        /// (file offset, semaphore file offset or 0, cookie) per site.
        sites: Vec<(u64, u64, u64)>,
        retprobe: bool,
        pid: Option<i32>,
    },
    /// The functions of a wildcard kprobe block on one `kprobe_multi` link
    /// (per-function perf kprobes with cookies where the kernel refuses that);
    /// see `kprobe_multi.rs`.
    KprobeMulti {
        /// (function, cookie) per function.
        sites: Vec<(String, u64)>,
        retprobe: bool,
    },
}

impl fmt::Display for AttachTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachTarget::Tracepoint { category, name } => {
                write!(f, "tracepoint {category}:{name}")
            }
            AttachTarget::RawTracepoint { name } => write!(f, "raw tracepoint {name}"),
            AttachTarget::Fentry { function, ret } => {
                let kind = if *ret { "fexit" } else { "fentry" };
                write!(f, "{kind} {function}")
            }
            AttachTarget::PerfEvent { kind, .. } => {
                let class = if kind.is_hardware() {
                    "hardware"
                } else {
                    "software"
                };
                write!(f, "{class} event {}", kind.name())
            }
            AttachTarget::Kprobe {
                function,
                offset,
                retprobe,
            } => {
                let probe = if *retprobe { "kretprobe" } else { "kprobe" };
                if *offset == 0 {
                    write!(f, "{probe} {function}")
                } else {
                    write!(f, "{probe} {function}+{offset}")
                }
            }
            AttachTarget::Uprobe {
                path,
                offset,
                retprobe,
                ..
            } => {
                let probe = if *retprobe { "uretprobe" } else { "uprobe" };
                write!(f, "{probe} {}:{offset:#x}", path.display())
            }
            AttachTarget::UprobeMulti {
                path,
                sites,
                retprobe,
                ..
            } => {
                let probe = if *retprobe { "uretprobe" } else { "uprobe" };
                write!(f, "{probe} {} ({} sites)", path.display(), sites.len())
            }
            AttachTarget::KprobeMulti { sites, retprobe } => {
                let probe = if *retprobe { "kretprobe" } else { "kprobe" };
                write!(f, "{probe} ({} functions)", sites.len())
            }
        }
    }
}

/// How often a sampling perf event fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sample {
    /// Times per second per CPU (`profile:hz:99`).
    Frequency(u64),
    /// Once every `n` events (or nanoseconds for the clock events).
    Period(u64),
}

/// The perf events `software:` and `hardware:` probes can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerfKind {
    CpuClock,
    TaskClock,
    PageFaults,
    ContextSwitches,
    CpuMigrations,
    MinorFaults,
    MajorFaults,
    AlignmentFaults,
    EmulationFaults,
    Dummy,
    BpfOutput,
    Cycles,
    Instructions,
    CacheReferences,
    CacheMisses,
    BranchInstructions,
    BranchMisses,
    BusCycles,
    FrontendStalls,
    BackendStalls,
    RefCycles,
}

/// One row of the perf event table.
struct PerfKindInfo {
    kind: PerfKind,
    name: &'static str,
    aliases: &'static [&'static str],
    perf_type: u32,
    config: u64,
}

const fn sw(
    kind: PerfKind,
    name: &'static str,
    aliases: &'static [&'static str],
    config: u64,
) -> PerfKindInfo {
    PerfKindInfo {
        kind,
        name,
        aliases,
        perf_type: sys::PERF_TYPE_SOFTWARE,
        config,
    }
}

const fn hw(
    kind: PerfKind,
    name: &'static str,
    aliases: &'static [&'static str],
    config: u64,
) -> PerfKindInfo {
    PerfKindInfo {
        kind,
        name,
        aliases,
        perf_type: sys::PERF_TYPE_HARDWARE,
        config,
    }
}

/// Canonical names, bpftrace's aliases and the kernel's `perf_sw_ids`/`perf_hw_id`.
const PERF_KINDS: [PerfKindInfo; 21] = [
    sw(PerfKind::CpuClock, "cpu-clock", &["cpu"], 0),
    sw(PerfKind::TaskClock, "task-clock", &[], 1),
    sw(PerfKind::PageFaults, "page-faults", &["faults"], 2),
    sw(PerfKind::ContextSwitches, "context-switches", &["cs"], 3),
    sw(PerfKind::CpuMigrations, "cpu-migrations", &[], 4),
    sw(PerfKind::MinorFaults, "minor-faults", &[], 5),
    sw(PerfKind::MajorFaults, "major-faults", &[], 6),
    sw(PerfKind::AlignmentFaults, "alignment-faults", &[], 7),
    sw(PerfKind::EmulationFaults, "emulation-faults", &[], 8),
    sw(PerfKind::Dummy, "dummy", &[], 9),
    sw(PerfKind::BpfOutput, "bpf-output", &[], 10),
    hw(PerfKind::Cycles, "cpu-cycles", &["cycles"], 0),
    hw(PerfKind::Instructions, "instructions", &[], 1),
    hw(PerfKind::CacheReferences, "cache-references", &[], 2),
    hw(PerfKind::CacheMisses, "cache-misses", &[], 3),
    hw(
        PerfKind::BranchInstructions,
        "branch-instructions",
        &["branches"],
        4,
    ),
    hw(PerfKind::BranchMisses, "branch-misses", &[], 5),
    hw(PerfKind::BusCycles, "bus-cycles", &[], 6),
    hw(PerfKind::FrontendStalls, "frontend-stalls", &[], 7),
    hw(PerfKind::BackendStalls, "backend-stalls", &[], 8),
    hw(PerfKind::RefCycles, "ref-cycles", &[], 9),
];

impl PerfKind {
    fn info(self) -> &'static PerfKindInfo {
        PERF_KINDS
            .iter()
            .find(|e| e.kind == self)
            .expect("every PerfKind has a table entry")
    }

    /// Looks up a `software:`/`hardware:` event by its name or alias.
    pub fn from_name(name: &str) -> Option<PerfKind> {
        PERF_KINDS
            .iter()
            .find(|e| e.name == name || e.aliases.contains(&name))
            .map(|e| e.kind)
    }

    /// The canonical name (`cpu-clock`, `cycles` …).
    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn is_hardware(self) -> bool {
        self.info().perf_type == sys::PERF_TYPE_HARDWARE
    }

    fn type_and_config(self) -> (u32, u64) {
        let e = self.info();
        (e.perf_type, e.config)
    }
}

/// Identifies one attachment of a [`Loaded`] module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkHandle(u64);

/// Why an attachment failed. Display is one sentence for the user.
#[derive(Debug)]
pub enum AttachError {
    NoProgram {
        program: String,
    },
    /// The program's type cannot run on this kind of target.
    WrongProgramType {
        program: String,
        target: String,
    },
    NoTracefs,
    NoTracepoint {
        category: String,
        name: String,
    },
    NoRawTracepoint {
        name: String,
    },
    /// The kernel was built without CONFIG_KPROBES.
    NoKprobes,
    NoKernelFunction {
        function: String,
    },
    /// `kprobe:function+offset` where the offset does not start an instruction
    /// (the kernel decodes the function and refuses with EILSEQ).
    BadKprobeOffset {
        function: String,
        offset: u64,
    },
    NoUprobes,
    /// The uprobe's binary does not exist.
    NoFile {
        path: PathBuf,
    },
    /// A `hardware:` event without a PMU (typical in VMs).
    NoHardwareEvent {
        event: String,
    },
    Permission {
        target: String,
    },
    Os {
        target: String,
        error: io::Error,
    },
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::NoProgram { program } => {
                write!(f, "internal error: no program named {program} was loaded")
            }
            AttachError::WrongProgramType { program, target } => write!(
                f,
                "internal error: program {program} has the wrong type to attach to {target}"
            ),
            AttachError::NoTracefs => write!(
                f,
                "tracefs is not mounted; mount it with `mount -t tracefs tracefs /sys/kernel/tracing`"
            ),
            AttachError::NoTracepoint { category, name } => {
                write!(f, "tracepoint {category}:{name} does not exist")
            }
            AttachError::NoRawTracepoint { name } => {
                write!(f, "raw tracepoint {name} does not exist")
            }
            AttachError::NoKprobes => write!(
                f,
                "this kernel has no kprobe support (CONFIG_KPROBES is off); \
                 use tracepoints or rawtracepoints instead"
            ),
            AttachError::NoKernelFunction { function } => write!(
                f,
                "kernel function {function} cannot be probed (it does not exist or is not traceable)"
            ),
            AttachError::BadKprobeOffset { function, offset } => write!(
                f,
                "offset {offset} into {function} is not the start of an instruction \
                 (a kprobe can only be placed on an instruction boundary)"
            ),
            AttachError::NoUprobes => write!(
                f,
                "this kernel has no uprobe support (CONFIG_UPROBE_EVENTS is off)"
            ),
            AttachError::NoFile { path } => {
                write!(f, "cannot attach a uprobe: {} does not exist", path.display())
            }
            AttachError::NoHardwareEvent { event } => write!(
                f,
                "hardware event {event} is not available: this machine exposes no hardware \
                 performance counters (no PMU, as in most virtual machines); \
                 use a software event such as cpu-clock instead"
            ),
            AttachError::Permission { target } => write!(
                f,
                "the kernel refused to attach to {target}: permission denied \
                 (run rtrace as root, or with CAP_BPF and CAP_PERFMON)"
            ),
            AttachError::Os { target, error } => {
                write!(f, "cannot attach to {target}: {error}")
            }
        }
    }
}

impl std::error::Error for AttachError {}

/// One attachment: the fds whose lifetime is the attachment's lifetime.
struct Attachment {
    program: String,
    target: AttachTarget,
    fds: Vec<OwnedFd>,
}

/// The attachments of one [`Loaded`] module. Dropping it detaches everything.
#[derive(Default)]
pub(crate) struct Links {
    next: u64,
    by_handle: HashMap<LinkHandle, Attachment>,
}

impl Links {
    fn insert(&mut self, attachment: Attachment) -> LinkHandle {
        self.next += 1;
        let handle = LinkHandle(self.next);
        self.by_handle.insert(handle, attachment);
        handle
    }

    fn take_all_fds(&mut self) -> Vec<OwnedFd> {
        self.by_handle.drain().flat_map(|(_, a)| a.fds).collect()
    }
}

impl Drop for Links {
    fn drop(&mut self) {
        close_in_parallel(self.take_all_fds());
    }
}

/// Attachments taken out of a module; dropping this detaches them.
pub struct PendingDetach {
    fds: Vec<OwnedFd>,
}

impl PendingDetach {
    /// Number of kernel objects (perf events, raw tracepoint links) to close.
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// Stop every probe now, so none fires while END runs and maps are printed:
    /// perf events are disabled (their slow close happens when this is dropped);
    /// links (raw tracepoints, uprobe_multi), which cannot be disabled, are closed
    /// at once — their detach is quick.
    pub fn disable(&mut self) {
        let (mut events, mut links) = (Vec::new(), Vec::new());
        for fd in std::mem::take(&mut self.fds) {
            match sys::perf_event_disable(fd.as_fd()) {
                Ok(_) => events.push(fd),
                Err(_) => links.push(fd),
            }
        }
        self.fds = events;
        close_in_parallel(links);
    }
}

impl Drop for PendingDetach {
    fn drop(&mut self) {
        close_in_parallel(std::mem::take(&mut self.fds));
    }
}

/// How many threads close fds at once. The kernel serializes the two waits of a
/// tracepoint detach under two global mutexes, so at most two closes make progress
/// together: measured on 360 syscall tracepoints, 1 thread 26.6 s, 4 threads 12.6 s,
/// 32 or 400 threads no better.
const CLOSE_THREADS: usize = 4;

/// Closes fds from several threads so the kernel's per-event RCU waits overlap.
fn close_in_parallel(fds: Vec<OwnedFd>) {
    if fds.len() <= 1 {
        return;
    }
    let per_thread = fds.len().div_ceil(CLOSE_THREADS);
    let mut fds = fds;
    std::thread::scope(|scope| {
        while !fds.is_empty() {
            let chunk: Vec<OwnedFd> = fds.drain(..per_thread.min(fds.len())).collect();
            scope.spawn(move || drop(chunk));
        }
    });
}

impl Loaded {
    /// Attaches `program` to `target`; the program runs until [`Loaded::detach`].
    pub fn attach(
        &mut self,
        program: &str,
        target: &AttachTarget,
    ) -> Result<LinkHandle, AttachError> {
        let prog = self
            .program(program)
            .ok_or_else(|| AttachError::NoProgram {
                program: program.to_string(),
            })?;
        check_program_type(program, prog.kind(), target)?;
        let fds = match target {
            AttachTarget::UprobeMulti { .. } => crate::multi_link::open_uprobe_multi(prog, target)?,
            AttachTarget::KprobeMulti { .. } => {
                crate::kprobe_multi::open_kprobe_multi(prog, target)?
            }
            _ => open_target(prog.fd(), target)?,
        };
        Ok(self.links.insert(Attachment {
            program: program.to_string(),
            target: target.clone(),
            fds,
        }))
    }

    /// Detaches one attachment; false if the handle is unknown (already detached).
    pub fn detach(&mut self, handle: LinkHandle) -> bool {
        match self.links.by_handle.remove(&handle) {
            Some(attachment) => {
                close_in_parallel(attachment.fds);
                true
            }
            None => false,
        }
    }

    /// Detaches everything, closing from several threads at once.
    pub fn detach_all(&mut self) {
        close_in_parallel(self.links.take_all_fds());
    }

    /// Takes every attachment out of this module without detaching yet: the
    /// returned value detaches them (in parallel) when dropped, on any thread, so
    /// a caller can print results first and pay the kernel's detach cost after.
    pub fn detach_all_later(&mut self) -> PendingDetach {
        PendingDetach {
            fds: self.links.take_all_fds(),
        }
    }

    /// The current attachments: handle, program name, target.
    pub fn attachments(&self) -> Vec<(LinkHandle, &str, &AttachTarget)> {
        let mut list: Vec<_> = self
            .links
            .by_handle
            .iter()
            .map(|(h, a)| (*h, a.program.as_str(), &a.target))
            .collect();
        list.sort_by_key(|(h, _, _)| *h);
        list
    }
}

fn check_program_type(
    name: &str,
    program: ProgramKind,
    target: &AttachTarget,
) -> Result<(), AttachError> {
    let fits = matches!(
        (program, target),
        (ProgramKind::TracePoint, AttachTarget::Tracepoint { .. })
            | (
                ProgramKind::RawTracePoint,
                AttachTarget::RawTracepoint { .. }
            )
            | (ProgramKind::PerfEvent, AttachTarget::PerfEvent { .. })
            | (ProgramKind::Fentry, AttachTarget::Fentry { .. })
            | (
                ProgramKind::KProbe | ProgramKind::UProbe,
                AttachTarget::Kprobe { .. } | AttachTarget::Uprobe { .. }
            )
            | (ProgramKind::UProbe, AttachTarget::UprobeMulti { .. })
            | (ProgramKind::KProbe, AttachTarget::KprobeMulti { .. })
    );
    if fits {
        Ok(())
    } else {
        Err(AttachError::WrongProgramType {
            program: name.to_string(),
            target: target.to_string(),
        })
    }
}

fn open_target(prog: BorrowedFd<'_>, target: &AttachTarget) -> Result<Vec<OwnedFd>, AttachError> {
    match target {
        AttachTarget::Tracepoint { category, name } => {
            let id = tracepoint_id(category, name)?;
            let mut attr = PerfEventAttr::new(sys::PERF_TYPE_TRACEPOINT, id);
            attr.sample_period_or_freq = 1;
            attr.wakeup_events = 1;
            Ok(vec![open_and_set_bpf(&attr, -1, 0, prog, target)?])
        }
        AttachTarget::RawTracepoint { name } => {
            let c_name = CString::new(name.as_str())
                .map_err(|_| AttachError::NoRawTracepoint { name: name.clone() })?;
            match sys::raw_tracepoint_open(&c_name, prog) {
                Ok(fd) => Ok(vec![fd]),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    Err(AttachError::NoRawTracepoint { name: name.clone() })
                }
                Err(e) => Err(os_error(target, e)),
            }
        }
        AttachTarget::Fentry { .. } => tracing_open(prog)
            .map(|fd| vec![fd])
            .map_err(|e| os_error(target, e)),
        AttachTarget::PerfEvent { kind, sample } => open_perf_event(prog, *kind, *sample, target),
        AttachTarget::Kprobe {
            function,
            offset,
            retprobe,
        } => open_kprobe(prog, function, *offset, *retprobe, target),
        AttachTarget::Uprobe {
            path,
            offset,
            retprobe,
            pid,
            ref_ctr_offset,
        } => {
            let pmu = probe_pmu("uprobe").ok_or(AttachError::NoUprobes)?;
            let c_path = CString::new(path.as_os_str().as_bytes())
                .map_err(|_| AttachError::NoFile { path: path.clone() })?;
            let mut attr = PerfEventAttr::new(pmu.kind, pmu.config(*retprobe));
            attr.config |= ref_ctr_offset << pmu.ref_ctr_shift;
            attr.config1 = c_path.as_ptr() as u64;
            attr.config2 = *offset;
            attr.sample_period_or_freq = 1;
            attr.wakeup_events = 1;
            // A pid-filtered uprobe follows that process on any CPU; otherwise one
            // event (on CPU 0) covers every process, as for tracepoints.
            let (pid, cpu) = pid.map_or((-1, 0), |p| (p, -1));
            match open_and_set_bpf(&attr, pid, cpu, prog, target) {
                Err(AttachError::Os { error, .. })
                    if error.raw_os_error() == Some(libc::ENOENT) =>
                {
                    Err(AttachError::NoFile { path: path.clone() })
                }
                other => other.map(|fd| vec![fd]),
            }
        }
        AttachTarget::UprobeMulti { .. } | AttachTarget::KprobeMulti { .. } => {
            Err(AttachError::WrongProgramType {
                program: "(unknown)".into(),
                target: target.to_string(),
            })
        }
    }
}

fn open_perf_event(
    prog: BorrowedFd<'_>,
    kind: PerfKind,
    sample: Sample,
    target: &AttachTarget,
) -> Result<Vec<OwnedFd>, AttachError> {
    let (kind_type, config) = kind.type_and_config();
    let mut attr = PerfEventAttr::new(kind_type, config);
    attr.flags = sys::PERF_ATTR_DISABLED;
    match sample {
        Sample::Frequency(hz) => {
            attr.flags |= sys::PERF_ATTR_FREQ;
            attr.sample_period_or_freq = hz;
        }
        Sample::Period(n) => attr.sample_period_or_freq = n.max(1),
    }
    attr.wakeup_events = 1;
    let cpus = sys::online_cpus().map_err(|e| os_error(target, e))?;
    let mut fds = Vec::with_capacity(cpus.len());
    for cpu in cpus {
        match open_and_set_bpf(&attr, -1, cpu as i32, prog, target) {
            Ok(fd) => fds.push(fd),
            Err(AttachError::Os { error, .. }) if kind.is_hardware() && no_pmu(&error) => {
                return Err(AttachError::NoHardwareEvent {
                    event: kind.name().to_string(),
                })
            }
            Err(e) => return Err(e),
        }
    }
    Ok(fds)
}

/// The errnos `perf_event_open` gives for a hardware event nothing can count.
fn no_pmu(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::ENOENT | libc::EOPNOTSUPP | libc::ENODEV)
    )
}

fn open_kprobe(
    prog: BorrowedFd<'_>,
    function: &str,
    offset: u64,
    retprobe: bool,
    target: &AttachTarget,
) -> Result<Vec<OwnedFd>, AttachError> {
    let pmu = probe_pmu("kprobe").ok_or(AttachError::NoKprobes)?;
    let c_function = CString::new(function).map_err(|_| AttachError::NoKernelFunction {
        function: function.to_string(),
    })?;
    let mut attr = PerfEventAttr::new(pmu.kind, pmu.config(retprobe));
    attr.config1 = c_function.as_ptr() as u64;
    attr.config2 = offset;
    attr.sample_period_or_freq = 1;
    attr.wakeup_events = 1;
    match open_and_set_bpf(&attr, -1, 0, prog, target) {
        Err(AttachError::Os { error, .. })
            if matches!(error.raw_os_error(), Some(libc::ENOENT | libc::EINVAL)) =>
        {
            Err(AttachError::NoKernelFunction {
                function: function.to_string(),
            })
        }
        Err(AttachError::Os { error, .. }) if error.raw_os_error() == Some(libc::EILSEQ) => {
            Err(AttachError::BadKprobeOffset {
                function: function.to_string(),
                offset,
            })
        }
        other => other.map(|fd| vec![fd]),
    }
}

/// Opens a perf event, hands it the program, and enables it.
pub(crate) fn open_and_set_bpf(
    attr: &PerfEventAttr,
    pid: i32,
    cpu: i32,
    prog: BorrowedFd<'_>,
    target: &AttachTarget,
) -> Result<OwnedFd, AttachError> {
    let fd = sys::perf_event_open(attr, pid, cpu).map_err(|e| os_error(target, e))?;
    sys::perf_event_set_bpf(fd.as_fd(), prog).map_err(|e| os_error(target, e))?;
    sys::perf_event_enable(fd.as_fd()).map_err(|e| os_error(target, e))?;
    Ok(fd)
}

pub(crate) fn os_error(target: &AttachTarget, error: io::Error) -> AttachError {
    match error.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => AttachError::Permission {
            target: target.to_string(),
        },
        _ => AttachError::Os {
            target: target.to_string(),
            error,
        },
    }
}

// ---- tracefs and dynamic PMUs ----

/// The tracefs mount holding `events/`, if any.
pub fn tracefs_root() -> Option<&'static Path> {
    static ROOT: OnceLock<Option<PathBuf>> = OnceLock::new();
    ROOT.get_or_init(|| {
        ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.join("events").is_dir())
    })
    .as_deref()
}

/// The perf tracepoint id of `category:name` (from `events/<c>/<n>/id`).
pub fn tracepoint_id(category: &str, name: &str) -> Result<u64, AttachError> {
    let root = tracefs_root().ok_or(AttachError::NoTracefs)?;
    let missing = || AttachError::NoTracepoint {
        category: category.to_string(),
        name: name.to_string(),
    };
    if category.contains('/') || name.contains('/') || category.is_empty() || name.is_empty() {
        return Err(missing());
    }
    let text = std::fs::read_to_string(root.join("events").join(category).join(name).join("id"))
        .map_err(|_| missing())?;
    text.trim().parse().map_err(|_| missing())
}

/// A dynamic probe PMU (`kprobe`/`uprobe`) from /sys/bus/event_source.
pub(crate) struct ProbePmu {
    pub(crate) kind: u32,
    retprobe_bit: u32,
    pub(crate) ref_ctr_shift: u32,
}

impl ProbePmu {
    pub(crate) fn config(&self, retprobe: bool) -> u64 {
        if retprobe {
            1 << self.retprobe_bit
        } else {
            0
        }
    }
}

pub(crate) fn probe_pmu(name: &str) -> Option<ProbePmu> {
    let dir = Path::new("/sys/bus/event_source/devices").join(name);
    let kind = std::fs::read_to_string(dir.join("type"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let format_bit = |field: &str, default: u32| {
        std::fs::read_to_string(dir.join("format").join(field))
            .ok()
            .and_then(|t| config_bit(&t))
            .unwrap_or(default)
    };
    Some(ProbePmu {
        kind,
        retprobe_bit: format_bit("retprobe", 0),
        ref_ctr_shift: format_bit("ref_ctr_offset", 32),
    })
}

/// The first bit of a PMU format spec such as `config:0` or `config:32-63`.
fn config_bit(format: &str) -> Option<u32> {
    let bits = format.trim().strip_prefix("config:")?;
    bits.split('-').next()?.parse().ok()
}

/// `BPF_RAW_TRACEPOINT_OPEN` with no name: attaches a tracing (fentry/fexit)
/// program to the function whose BTF id it was loaded with. Closing the fd detaches it.
fn tracing_open(prog: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    /// `union bpf_attr` as `BPF_RAW_TRACEPOINT_OPEN` reads it.
    #[repr(C)]
    struct RawTpOpen {
        name: u64,
        prog_fd: u32,
        pad: u32,
        cookie: u64,
    }
    const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
    let attr = RawTpOpen {
        name: 0,
        prog_fd: prog.as_raw_fd() as u32,
        pad: 0,
        cookie: 0,
    };
    // SAFETY: `attr` is a valid, initialised bpf_attr prefix of the size passed;
    // the kernel only reads it during the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_RAW_TRACEPOINT_OPEN,
            &attr as *const RawTpOpen,
            std::mem::size_of::<RawTpOpen>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_kinds_resolve_names_and_aliases() {
        assert_eq!(PerfKind::from_name("cpu-clock"), Some(PerfKind::CpuClock));
        assert_eq!(PerfKind::from_name("cs"), Some(PerfKind::ContextSwitches));
        assert_eq!(PerfKind::from_name("cycles"), Some(PerfKind::Cycles));
        assert_eq!(PerfKind::from_name("nope"), None);
        assert!(PerfKind::Cycles.is_hardware());
        assert!(!PerfKind::PageFaults.is_hardware());
        assert_eq!(PerfKind::MajorFaults.type_and_config(), (1, 6));
        for info in &PERF_KINDS {
            assert_eq!(PerfKind::from_name(info.kind.name()), Some(info.kind));
        }
    }

    #[test]
    fn pmu_format_bits_parse() {
        assert_eq!(config_bit("config:0\n"), Some(0));
        assert_eq!(config_bit("config:32-63"), Some(32));
        assert_eq!(config_bit("config1:0-63"), None);
    }

    #[test]
    fn targets_describe_themselves() {
        let t = AttachTarget::Tracepoint {
            category: "syscalls".into(),
            name: "foo".into(),
        };
        assert_eq!(t.to_string(), "tracepoint syscalls:foo");
        let k = AttachTarget::Kprobe {
            function: "vfs_read".into(),
            offset: 0,
            retprobe: true,
        };
        assert_eq!(k.to_string(), "kretprobe vfs_read");
    }

    #[test]
    fn misplaced_kprobe_offset_is_explained() {
        let e = AttachError::BadKprobeOffset {
            function: "tcp_sendmsg".into(),
            offset: 1,
        };
        assert_eq!(
            e.to_string(),
            "offset 1 into tcp_sendmsg is not the start of an instruction \
             (a kprobe can only be placed on an instruction boundary)"
        );
    }
}
