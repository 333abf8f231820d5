//! Loading a compiled module's ELF into the kernel.
//!
//! The common path needs no kernel BTF: aya-obj parses the ELF and patches every
//! map-fd `ld_imm64` (`BPF_PSEUDO_MAP_FD`), aya creates the maps
//! (`MapData::create`), and [`sys::prog_load`] loads each program. aya's
//! `EbpfLoader` parses all of vmlinux BTF (~18 ms, ~13 MiB) and probes a dozen
//! kernel features, so it is built only for objects that need BTF (a `.BTF`
//! section, BTF-defined or global-data maps, fentry/fexit/tp_btf/lsm/iter
//! programs), and then once per [`Loader`].
//!
//! [`Loaded`] owns the maps and program fds and, through `attach.rs`, every
//! attachment made with them.

use crate::attach::Links;
use crate::sys;
use aya::maps::{Map, MapData};
use aya::programs::{Program, ProgramError};
use aya::util::KernelVersion;
use aya::{Ebpf, EbpfError, EbpfLoader};
use aya_obj::generated::bpf_insn;
use aya_obj::{EbpfSectionKind, Object, ProgramSection};
use rtrace_compiler::bpf::map_object_name;
use rtrace_compiler::ir::MapId;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// Loads ELF objects produced by the eBPF back end. Create one per process:
/// the BTF path's vmlinux parse, if ever needed, is then paid once.
#[derive(Default)]
pub struct Loader {
    aya: Option<EbpfLoader<'static>>,
}

/// Why a module could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The verifier refused a program; `log` is its full output (for `-v`).
    Verifier { program: String, log: String },
    /// The kernel refused with EPERM/EACCES: not root, or missing capabilities.
    Permission { what: String },
    /// The kernel has no `bpf()` system call.
    NoBpf,
    /// A program type this runtime does not know how to load.
    UnsupportedProgram { program: String },
    /// Anything else (malformed object, map creation failure …), as text.
    Other { message: String },
}

impl LoadError {
    /// The complete verifier log, if this is a verifier rejection.
    pub fn verifier_log(&self) -> Option<&str> {
        match self {
            LoadError::Verifier { log, .. } => Some(log),
            _ => None,
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Verifier { program, log } => match last_meaningful_line(log) {
                Some(line) => write!(
                    f,
                    "the kernel's verifier rejected probe {program}: {line}; \
                     run with -v for the full log"
                ),
                None => write!(
                    f,
                    "the kernel's verifier rejected probe {program}; run with -v for the full log"
                ),
            },
            LoadError::Permission { what } => write!(
                f,
                "the kernel refused to {what}: permission denied \
                 (run rtrace as root, or with CAP_BPF and CAP_PERFMON)"
            ),
            LoadError::NoBpf => write!(
                f,
                "this kernel has no BPF support (the bpf() system call is missing)"
            ),
            LoadError::UnsupportedProgram { program } => {
                write!(f, "program {program} has a type rtrace cannot load")
            }
            LoadError::Other { message } => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// The line of a verifier log that says what went wrong: the last one that is
/// not a statistics line, an instruction echo or a register-state dump.
pub fn last_meaningful_line(log: &str) -> Option<&str> {
    log.lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty() && !is_verifier_noise(line))
}

fn is_verifier_noise(line: &str) -> bool {
    const STATS: [&str; 5] = [
        "processed ",
        "verification time",
        "stack depth",
        "max_states_per_insn",
        "mark_precise",
    ];
    if STATS.iter().any(|p| line.starts_with(p)) {
        return true;
    }
    // Instruction echoes ("12: (85) call …", "12: R1=…") and source comments.
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0 && line[digits..].starts_with(':')) || line.starts_with(';')
}

/// Raises `RLIMIT_MEMLOCK` to infinity; true if it was raised. Kernels before
/// 5.11 charge map memory to it and answer EPERM when it is exhausted; newer
/// ones ignore it, so this runs only after such a refusal.
fn raise_memlock_limit() -> bool {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `unlimited` is a valid rlimit the call only reads.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) == 0 }
}

impl Loader {
    /// A loader; nothing is read or probed until a module needs it.
    pub fn new() -> Loader {
        Loader::default()
    }

    /// Creates the module's maps and loads every program into the kernel,
    /// without vmlinux BTF unless the object needs it.
    pub fn load(&mut self, elf: &[u8]) -> Result<Loaded, LoadError> {
        self.load_expecting(elf, &HashMap::new())
    }

    /// Like [`Loader::load`], giving the named programs an expected attach
    /// type (`uprobe_multi` programs need theirs). Objects that need BTF go
    /// through aya, which does not set it: their links then fall back.
    pub fn load_expecting(
        &mut self,
        elf: &[u8],
        attach_types: &HashMap<String, u32>,
    ) -> Result<Loaded, LoadError> {
        let aligned = AlignedBytes::copy_of(elf);
        let obj = Object::parse(aligned.as_bytes()).map_err(|e| LoadError::Other {
            message: format!("the compiled module is malformed: {}", chain_text(&e)),
        })?;
        if needs_btf(&obj) {
            return self.load_ebpf(aligned.as_bytes());
        }
        let used = referenced_symbols(aligned.as_bytes());
        load_direct(obj, &used, attach_types)
    }

    /// Loads through aya's `EbpfLoader` whatever the object holds: parses vmlinux
    /// BTF (once per loader) and probes kernel features. [`Loader::load`] takes
    /// this path by itself for objects that need BTF.
    pub fn load_with_btf(&mut self, elf: &[u8]) -> Result<Loaded, LoadError> {
        let aligned = AlignedBytes::copy_of(elf);
        self.load_ebpf(aligned.as_bytes())
    }

    fn load_ebpf(&mut self, aligned_elf: &[u8]) -> Result<Loaded, LoadError> {
        let aya = self.aya.get_or_insert_with(EbpfLoader::new);
        let ebpf = match aya.load(aligned_elf) {
            Err(e) if is_eperm(&e) && raise_memlock_limit() => aya.load(aligned_elf),
            other => other,
        };
        let traced = traced_functions(aligned_elf);
        adopt_ebpf(ebpf.map_err(from_ebpf_error)?, &traced)
    }
}

/// aya parses the ELF in place and needs it 8-byte aligned; callers' buffers
/// (`Vec<u8>`) promise no alignment, so the bytes are copied into `u64` storage.
struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBytes {
    fn copy_of(bytes: &[u8]) -> AlignedBytes {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            *word = u64::from_ne_bytes(buf);
        }
        AlignedBytes {
            words,
            len: bytes.len(),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        // SAFETY: `words` owns at least `len` initialised bytes (`len.div_ceil(8)`
        // words); u8 has no alignment requirement and the slice borrows `self`.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }
}

// ---- what a program is ----

/// The program types rtrace attaches (see `attach.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramKind {
    TracePoint,
    /// kprobe or kretprobe.
    KProbe,
    /// uprobe or uretprobe (a kprobe-type program too).
    UProbe,
    PerfEvent,
    RawTracePoint,
    /// fentry or fexit (a `BPF_PROG_TYPE_TRACING` program).
    Fentry,
}

impl ProgramKind {
    /// The kind an ELF section name asks for, and its `prog_flags`.
    fn of_section(section: &ProgramSection) -> Option<(ProgramKind, u32)> {
        let sleepable = |s: bool| if s { sys::BPF_F_SLEEPABLE } else { 0 };
        Some(match section {
            ProgramSection::TracePoint => (ProgramKind::TracePoint, 0),
            ProgramSection::KProbe | ProgramSection::KRetProbe => (ProgramKind::KProbe, 0),
            ProgramSection::UProbe { sleepable: s }
            | ProgramSection::URetProbe { sleepable: s } => (ProgramKind::UProbe, sleepable(*s)),
            ProgramSection::PerfEvent => (ProgramKind::PerfEvent, 0),
            ProgramSection::RawTracePoint => (ProgramKind::RawTracePoint, 0),
            _ => return None,
        })
    }

    fn of_aya(program: &Program) -> Option<ProgramKind> {
        Some(match program {
            Program::TracePoint(_) => ProgramKind::TracePoint,
            Program::KProbe(_) => ProgramKind::KProbe,
            Program::UProbe(_) => ProgramKind::UProbe,
            Program::PerfEvent(_) => ProgramKind::PerfEvent,
            Program::RawTracePoint(_) => ProgramKind::RawTracePoint,
            Program::FEntry(_) | Program::FExit(_) => ProgramKind::Fentry,
            _ => return None,
        })
    }

    fn prog_type(self) -> u32 {
        match self {
            ProgramKind::TracePoint => sys::BPF_PROG_TYPE_TRACEPOINT,
            ProgramKind::KProbe | ProgramKind::UProbe => sys::BPF_PROG_TYPE_KPROBE,
            ProgramKind::PerfEvent => sys::BPF_PROG_TYPE_PERF_EVENT,
            ProgramKind::RawTracePoint => sys::BPF_PROG_TYPE_RAW_TRACEPOINT,
            ProgramKind::Fentry => BPF_PROG_TYPE_TRACING,
        }
    }
}

/// Whether loading `obj` needs kernel BTF, i.e. aya's `EbpfLoader`.
fn needs_btf(obj: &Object) -> bool {
    let btf_program = obj.programs.values().any(|p| {
        matches!(
            p.section,
            ProgramSection::BtfTracePoint
                | ProgramSection::FEntry { .. }
                | ProgramSection::FExit { .. }
                | ProgramSection::Lsm { .. }
                | ProgramSection::LsmCgroup
                | ProgramSection::Iter { .. }
                | ProgramSection::Extension
        )
    });
    // Global data (.bss/.data/.rodata) and `.maps` need aya's finalize and BTF.
    let special_map = obj.maps.values().any(|m| {
        !matches!(m, aya_obj::Map::Legacy(_))
            || m.section_kind() != EbpfSectionKind::Maps
            || !m.data().is_empty()
    });
    obj.btf.is_some() || btf_program || special_map
}

// ---- the direct path ----

/// One map the direct path created: aya's handle and the definition aya-obj
/// relocates against.
struct CreatedMap {
    name: String,
    def: aya_obj::Map,
    data: MapData,
}

fn load_direct(
    mut obj: Object,
    used: &HashSet<String>,
    attach_types: &HashMap<String, u32>,
) -> Result<Loaded, LoadError> {
    let (created, left_out) = create_maps(&mut obj, used)?;
    // Every program section may hold relocation targets, as in aya's own loader.
    let text_sections: HashSet<usize> = obj.functions.keys().map(|(section, _)| *section).collect();
    let by_name = created
        .iter()
        .map(|m| (m.name.as_str(), m.data.fd().as_fd().as_raw_fd(), &m.def));
    obj.relocate_maps(by_name, &text_sections)
        .map_err(|e| relocation_error(&e))?;
    obj.relocate_calls(&text_sections)
        .map_err(|e| relocation_error(&e))?;
    let programs = load_programs(&obj, attach_types)?;
    let mut maps = HashMap::with_capacity(created.len());
    for m in created {
        let map =
            Map::from_map_data(m.data).map_err(|e| from_any_error(&e, "create the BPF maps"))?;
        maps.insert(m.name, map);
    }
    Ok(Loaded {
        links: Links::default(),
        programs,
        maps,
        left_out,
        _ebpf: None,
    })
}

fn relocation_error(error: &(dyn std::error::Error + 'static)) -> LoadError {
    LoadError::Other {
        message: format!("cannot link the compiled module: {}", chain_text(error)),
    }
}

/// Creates the maps of the object in name order, except ring buffers that no
/// program writes to (the names of those are returned): user space never reads
/// from them, and each costs its size in kernel memory and mapped pages.
fn create_maps(
    obj: &mut Object,
    used: &HashSet<String>,
) -> Result<(Vec<CreatedMap>, HashSet<String>), LoadError> {
    let mut defs: Vec<(String, aya_obj::Map)> = obj.maps.drain().collect();
    defs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut created = Vec::with_capacity(defs.len());
    let mut left_out = HashSet::new();
    for (name, def) in defs {
        if def.map_type() == BPF_MAP_TYPE_RINGBUF && !used.contains(&name) {
            left_out.insert(name);
            continue;
        }
        let data = create_map(&name, &def)?;
        created.push(CreatedMap { name, def, data });
    }
    Ok((created, left_out))
}

/// `BPF_MAP_TYPE_RINGBUF`.
const BPF_MAP_TYPE_RINGBUF: u32 = 27;

/// Names of the symbols the object's relocations refer to (the maps its
/// programs load). An unreadable object yields none; aya-obj already parsed it.
fn referenced_symbols(elf: &[u8]) -> HashSet<String> {
    use object::{Object as _, ObjectSection as _, ObjectSymbol as _, RelocationTarget};
    let Ok(file) = object::File::parse(elf) else {
        return HashSet::new();
    };
    file.sections()
        .flat_map(|section| section.relocations())
        .filter_map(|(_, reloc)| match reloc.target() {
            RelocationTarget::Symbol(index) => file.symbol_by_index(index).ok(),
            _ => None,
        })
        .filter_map(|symbol| symbol.name().ok().map(str::to_string))
        .collect()
}

fn create_map(name: &str, def: &aya_obj::Map) -> Result<MapData, LoadError> {
    let kernel_name = object_name(name);
    let create = || MapData::create(def.clone(), &kernel_name, None);
    let result = match create() {
        Err(e) if is_eperm(&e) && raise_memlock_limit() => create(),
        other => other,
    };
    result.map_err(|e| from_any_error(&e, "create the BPF maps"))
}

/// The kernel's spelling of an object name (see [`sys::kernel_object_name`]).
fn object_name(name: &str) -> String {
    let bytes = sys::kernel_object_name(name);
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Loads every program of a relocated object, in ELF order.
fn load_programs(
    obj: &Object,
    attach_types: &HashMap<String, u32>,
) -> Result<Vec<LoadedProgram>, LoadError> {
    let mut order: Vec<_> = obj.programs.iter().collect();
    order.sort_by_key(|(_, p)| p.function_key());
    let mut loaded = Vec::with_capacity(order.len());
    for (name, program) in order {
        let unsupported = || LoadError::UnsupportedProgram {
            program: name.clone(),
        };
        let (kind, flags) = ProgramKind::of_section(&program.section).ok_or_else(unsupported)?;
        let function = obj
            .functions
            .get(&program.function_key())
            .ok_or_else(unsupported)?;
        let insns = encode(&function.instructions);
        let starts = crate::func_info::function_starts(&insns);
        let (btf, records) = if starts.len() > 1 {
            let btf = crate::func_info::load_btf(starts.len())
                .map_err(|e| from_any_error(&e, "load the BTF of a callback subprogram"))?;
            (Some(btf), crate::func_info::records(&starts))
        } else {
            (None, Vec::new())
        };
        let request = sys::ProgLoad {
            prog_type: kind.prog_type(),
            insns: &insns,
            license: &program.license,
            name,
            kern_version: kernel_version_for(kind, program.kernel_version),
            flags,
            expected_attach_type: attach_types.get(name).copied().unwrap_or(0),
            func_info: btf.as_ref().map(|fd| (fd.as_raw_fd(), records.as_slice())),
        };
        let fd = load_program(name, &request)?;
        loaded.push(LoadedProgram {
            name: name.clone(),
            kind,
            fd,
            expected_attach_type: request.expected_attach_type,
        });
    }
    Ok(loaded)
}

/// Kernels before 5.0 refuse kprobe programs whose version is not theirs.
fn kernel_version_for(kind: ProgramKind, from_object: Option<u32>) -> u32 {
    match kind {
        ProgramKind::KProbe | ProgramKind::UProbe => from_object
            .or_else(|| KernelVersion::current().ok().map(KernelVersion::code))
            .unwrap_or(0),
        _ => 0,
    }
}

/// The kernel's byte encoding of instructions.
fn encode(insns: &[bpf_insn]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(insns.len() * sys::INSN_SIZE);
    for insn in insns {
        bytes.push(insn.code);
        bytes.push((insn.src_reg() << 4) | (insn.dst_reg() & 0x0f));
        bytes.extend_from_slice(&insn.off.to_le_bytes());
        bytes.extend_from_slice(&insn.imm.to_le_bytes());
    }
    bytes
}

/// First verifier log buffer; grown 8× per `ENOSPC` up to the kernel's limit.
const FIRST_LOG_SIZE: usize = 64 * 1024;

/// Loads one program. A refusal is retried once with a verifier log (grown until
/// the log fits), so successful loads never pay for logging.
fn load_program(name: &str, request: &sys::ProgLoad<'_>) -> Result<OwnedFd, LoadError> {
    let first_error = match sys::prog_load(request, None) {
        Ok(fd) => return Ok(fd),
        Err(e) => e,
    };
    if first_error.raw_os_error() == Some(libc::ENOSYS) {
        return Err(LoadError::NoBpf);
    }
    let mut size = FIRST_LOG_SIZE;
    loop {
        let mut log = vec![0u8; size];
        let error = match sys::prog_load(request, Some(&mut log)) {
            Ok(fd) => return Ok(fd),
            Err(e) => e,
        };
        if error.raw_os_error() == Some(libc::ENOSPC) && size < sys::MAX_VERIFIER_LOG {
            size = (size * 8).min(sys::MAX_VERIFIER_LOG);
            continue;
        }
        return Err(refusal(name, &error, &log_text(&log)));
    }
}

/// The NUL-terminated text the kernel wrote into a log buffer.
fn log_text(log: &[u8]) -> String {
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    String::from_utf8_lossy(&log[..end]).into_owned()
}

/// A failed load: the verifier's words if it said any, else the errno's meaning.
fn refusal(program: &str, error: &io::Error, log: &str) -> LoadError {
    if log.trim().is_empty() {
        if let Some(e) = errno_error(error, &format!("load probe {program}")) {
            return e;
        }
    }
    LoadError::Verifier {
        program: program.to_string(),
        log: if log.trim().is_empty() {
            error.to_string()
        } else {
            log.to_string()
        },
    }
}

// ---- the EbpfLoader path ----

/// `BPF_PROG_TYPE_TRACING` (fentry/fexit programs).
const BPF_PROG_TYPE_TRACING: u32 = 26;

/// The kernel function each fentry/fexit program traces, by program (symbol)
/// name, from its ELF section `fentry/<function>` or `fexit/<function>`.
fn traced_functions(elf: &[u8]) -> HashMap<String, String> {
    use object::{Object as _, ObjectSection as _, ObjectSymbol as _, SymbolKind};
    let Ok(file) = object::File::parse(elf) else {
        return HashMap::new();
    };
    file.symbols()
        .filter(|symbol| symbol.kind() == SymbolKind::Text)
        .filter_map(|symbol| {
            let section = file.section_by_index(symbol.section_index()?).ok()?;
            let section_name = section.name().ok()?;
            let function = section_name
                .strip_prefix("fentry/")
                .or_else(|| section_name.strip_prefix("fexit/"))?;
            Some((symbol.name().ok()?.to_string(), function.to_string()))
        })
        .collect()
}

/// Loads an fentry/fexit program against its function's BTF id.
fn load_tracing(
    name: &str,
    program: &mut Program,
    traced: &HashMap<String, String>,
    btf: &mut Option<aya::Btf>,
) -> Result<(), LoadError> {
    let function = traced.get(name).ok_or_else(|| LoadError::Other {
        message: format!("probe {name} names no kernel function"),
    })?;
    if btf.is_none() {
        let loaded =
            aya::Btf::from_sys_fs().map_err(|e| from_any_error(&e, "read the kernel's BTF"))?;
        *btf = Some(loaded);
    }
    let btf = btf.as_ref().expect("just loaded");
    let (kind, result) = match program {
        Program::FEntry(p) => ("fentry", p.load(function, btf)),
        Program::FExit(p) => ("fexit", p.load(function, btf)),
        _ => unreachable!("only fentry/fexit programs are loaded here"),
    };
    result.map_err(|e| match &e {
        ProgramError::LoadError { io_error, .. }
            if matches!(io_error.raw_os_error(), Some(libc::EPERM | libc::EACCES)) =>
        {
            LoadError::Other {
                message: format!(
                    "the kernel refused the {kind} program on {function} (EPERM): {}",
                    rtrace_compiler::probes::fentry::KERNEL_REFUSES
                ),
            }
        }
        _ => from_program_error(name, e),
    })
}

/// Loads the programs of an aya object and takes its maps and program fds.
fn adopt_ebpf(mut ebpf: Ebpf, traced: &HashMap<String, String>) -> Result<Loaded, LoadError> {
    let mut btf = None;
    let mut programs = Vec::new();
    for (name, program) in ebpf.programs_mut() {
        let kind = ProgramKind::of_aya(program).ok_or_else(|| LoadError::UnsupportedProgram {
            program: name.to_string(),
        })?;
        let result = match program {
            Program::TracePoint(p) => p.load(),
            Program::PerfEvent(p) => p.load(),
            Program::KProbe(p) => p.load(),
            Program::UProbe(p) => p.load(),
            Program::RawTracePoint(p) => p.load(),
            Program::FEntry(_) | Program::FExit(_) => Ok(()),
            _ => unreachable!("ProgramKind::of_aya accepted only these"),
        };
        result.map_err(|e| from_program_error(name, e))?;
        if kind == ProgramKind::Fentry {
            load_tracing(name, program, traced, &mut btf)?;
        }
        let what = format!("load probe {name}");
        let fd = program
            .fd()
            .map_err(|e| from_any_error(&e, &what))?
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| from_any_error(&e, &what))?;
        programs.push(LoadedProgram {
            name: name.to_string(),
            kind,
            fd,
            expected_attach_type: 0,
        });
    }
    programs.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<String> = ebpf.maps().map(|(name, _)| name.to_string()).collect();
    let maps = names
        .into_iter()
        .filter_map(|name| ebpf.take_map(&name).map(|map| (name, map)))
        .collect();
    Ok(Loaded {
        links: Links::default(),
        programs,
        maps,
        left_out: HashSet::new(),
        _ebpf: Some(ebpf),
    })
}

fn from_program_error(program: &str, error: ProgramError) -> LoadError {
    match error {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => refusal(program, &io_error, &verifier_log.to_string()),
        other => from_any_error(&other, &format!("load probe {program}")),
    }
}

fn from_ebpf_error(error: EbpfError) -> LoadError {
    match error {
        EbpfError::ProgramError(e) => from_program_error("(unknown)", e),
        other => from_any_error(&other, "create the BPF maps"),
    }
}

// ---- errors ----

/// Whether the first OS error in an error's source chain is EPERM.
fn is_eperm(error: &(dyn std::error::Error + 'static)) -> bool {
    first_os_error(error).is_some_and(|e| e.raw_os_error() == Some(libc::EPERM))
}

fn first_os_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a io::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io);
        }
        cause = e.source();
    }
    None
}

/// Classifies an error by the first OS error in its source chain.
fn from_any_error(error: &(dyn std::error::Error + 'static), what: &str) -> LoadError {
    if let Some(classified) = first_os_error(error).and_then(|io| errno_error(io, what)) {
        return classified;
    }
    LoadError::Other {
        message: chain_text(error),
    }
}

fn errno_error(error: &io::Error, what: &str) -> Option<LoadError> {
    match error.raw_os_error()? {
        libc::EPERM | libc::EACCES => Some(LoadError::Permission {
            what: what.to_string(),
        }),
        libc::ENOSYS => Some(LoadError::NoBpf),
        _ => None,
    }
}

/// "outer: inner: innermost" for errors whose Display omits their source.
fn chain_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = e.source();
    }
    text
}

// ---- the loaded module ----

/// One program in the kernel.
pub struct LoadedProgram {
    name: String,
    kind: ProgramKind,
    fd: OwnedFd,
    /// The `expected_attach_type` it was loaded with (0: none).
    expected_attach_type: u32,
}

impl LoadedProgram {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> ProgramKind {
        self.kind
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn expected_attach_type(&self) -> u32 {
        self.expected_attach_type
    }
}

/// A module loaded into the kernel: its maps, its programs, and the attachments
/// made from it (detached when this is dropped).
pub struct Loaded {
    // Declared first so attachments are dropped (detached) before the programs.
    pub(crate) links: Links,
    programs: Vec<LoadedProgram>,
    /// By kernel object name ([`map_object_name`]).
    maps: HashMap<String, Map>,
    /// Ring buffers not created because no program writes to them.
    left_out: HashSet<String>,
    /// The aya object of a module loaded through `EbpfLoader` (it owns that
    /// path's BTF fd and the original program fds).
    _ebpf: Option<Ebpf>,
}

impl Loaded {
    /// The aya map for an IR map id.
    pub fn map(&self, id: MapId) -> Option<&Map> {
        self.maps.get(&map_object_name(id))
    }

    /// Removes the aya map from this object (e.g. to build a ring buffer reader).
    pub fn take_map(&mut self, id: MapId) -> Option<Map> {
        self.maps.remove(&map_object_name(id))
    }

    /// Whether map `id` is a ring buffer the loader did not create because no
    /// program writes to it (a reader of it would never get a record).
    pub fn map_left_out(&self, id: MapId) -> bool {
        self.left_out.contains(&map_object_name(id))
    }

    /// The kernel fd of an IR map.
    pub fn map_fd(&self, id: MapId) -> Option<BorrowedFd<'_>> {
        self.map(id).and_then(map_data).map(|d| d.fd().as_fd())
    }

    /// A loaded program by name.
    pub fn program(&self, name: &str) -> Option<&LoadedProgram> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// The kernel fd of a loaded program.
    pub fn program_fd(&self, name: &str) -> Option<BorrowedFd<'_>> {
        self.program(name).map(LoadedProgram::fd)
    }

    /// Names of all programs in the module, in ELF order.
    pub fn program_names(&self) -> Vec<String> {
        self.programs.iter().map(|p| p.name.clone()).collect()
    }
}

/// The `MapData` inside an aya map of the kinds rtrace creates.
pub fn map_data(map: &Map) -> Option<&MapData> {
    match map {
        Map::Array(d)
        | Map::HashMap(d)
        | Map::LruHashMap(d)
        | Map::PerCpuArray(d)
        | Map::PerCpuHashMap(d)
        | Map::PerCpuLruHashMap(d)
        | Map::RingBuf(d)
        | Map::PerfEventArray(d)
        | Map::StackTraceMap(d)
        | Map::ProgramArray(d)
        | Map::Unsupported(d) => Some(d),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_error_line_before_statistics() {
        let log = "0: R1=ctx() R10=fp0\n\
                   0: (79) r0 = *(u64 *)(r1 +4096)\n\
                   invalid bpf_context access off=4096 size=8\n\
                   processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0\n";
        assert_eq!(
            last_meaningful_line(log),
            Some("invalid bpf_context access off=4096 size=8")
        );
    }

    #[test]
    fn verifier_error_is_one_sentence() {
        let e = LoadError::Verifier {
            program: "p0".into(),
            log: "R0 !read_ok\nprocessed 1 insns\n".into(),
        };
        assert_eq!(
            e.to_string(),
            "the kernel's verifier rejected probe p0: R0 !read_ok; run with -v for the full log"
        );
        assert!(e.verifier_log().unwrap().contains("processed 1 insns"));
    }

    // ---- against the real kernel (run as root) ----

    use crate::ringbuf::EventReader;
    use rtrace_compiler::bpf::{insn, write_elf, BpfProgram, MapReloc};
    use rtrace_compiler::ir::{MapKind, MapSpec, Module};
    use rtrace_stdlib::types::Type;

    const TP_SECTION: &str = "tracepoint/syscalls/sys_enter_getpid";

    fn spec(kind: MapKind, key_size: u32, value_size: u32, max_entries: u32) -> MapSpec {
        MapSpec {
            name: "@m".into(),
            kind,
            key_size,
            value_size,
            max_entries,
            key_type: Type::None,
            value_type: Type::None,
        }
    }

    /// Map 0: a per-CPU array; map 1: a ring buffer.
    fn module() -> Module {
        Module {
            maps: vec![
                spec(MapKind::PerCpuArray, 4, 8, 1),
                spec(MapKind::RingBuf, 0, 0, 64 * 1024),
            ],
            ..Default::default()
        }
    }

    /// `r1 = map(maps[i]) …; r0 = 0; exit` for each `i`.
    fn loads_maps(name: &str, maps: &[MapId]) -> BpfProgram {
        let mut insns = Vec::new();
        let mut map_relocs = Vec::new();
        for &map in maps {
            map_relocs.push(MapReloc {
                insn: insns.len(),
                map,
            });
            insns.extend(insn::ld_map_fd(insn::R1));
        }
        insns.push(insn::mov64_imm(insn::R0, 0));
        insns.push(insn::exit());
        BpfProgram {
            name: name.into(),
            insns,
            map_relocs,
        }
    }

    fn elf(programs: &[(BpfProgram, &str)]) -> Vec<u8> {
        let programs: Vec<(BpfProgram, String)> = programs
            .iter()
            .map(|(p, s)| (p.clone(), s.to_string()))
            .collect();
        write_elf(&module(), &programs)
    }

    fn map_type(loaded: &Loaded, id: MapId) -> Option<u32> {
        loaded
            .map_fd(id)
            .map(|fd| sys::map_info(fd).expect("map info").map_type)
    }

    #[test]
    fn common_path_loads_without_btf_and_patches_map_fds() {
        let bytes = elf(&[
            (loads_maps("second", &[0, 1]), TP_SECTION),
            (loads_maps("first", &[1]), "perf_event"),
        ]);
        let obj = Object::parse(AlignedBytes::copy_of(&bytes).as_bytes()).unwrap();
        assert!(!needs_btf(&obj));
        let mut loader = Loader::new();
        let loaded = loader.load(&bytes).unwrap();
        assert!(loader.aya.is_none(), "vmlinux BTF must not be parsed");
        assert_eq!(loaded.program_names(), ["second", "first"], "ELF order");
        assert_eq!(
            loaded.program("second").map(LoadedProgram::kind),
            Some(ProgramKind::TracePoint)
        );
        assert_eq!(
            loaded.program("first").map(LoadedProgram::kind),
            Some(ProgramKind::PerfEvent)
        );
        assert_eq!(map_type(&loaded, 0), Some(6), "BPF_MAP_TYPE_PERCPU_ARRAY");
        assert_eq!(map_type(&loaded, 1), Some(BPF_MAP_TYPE_RINGBUF));
        assert!(!loaded.map_left_out(1));
        // The kernel saw map fds in the ld_imm64s: it lists the maps as used.
        let map_id = |id| sys::map_info(loaded.map_fd(id).unwrap()).unwrap().id;
        let info = sys::prog_info(loaded.program_fd("second").unwrap()).unwrap();
        assert_eq!(info.prog_type, sys::BPF_PROG_TYPE_TRACEPOINT);
        assert_eq!(info.name, "second");
        let mut used = info.map_ids;
        used.sort_unstable();
        let mut expected = vec![map_id(0), map_id(1)];
        expected.sort_unstable();
        assert_eq!(used, expected);
        let info = sys::prog_info(loaded.program_fd("first").unwrap()).unwrap();
        assert_eq!(info.prog_type, sys::BPF_PROG_TYPE_PERF_EVENT);
        assert_eq!(info.map_ids, [map_id(1)]);
    }

    #[test]
    fn a_ring_buffer_nothing_writes_to_is_left_out() {
        let bytes = elf(&[(loads_maps("counts_only", &[0]), TP_SECTION)]);
        let mut loaded = Loader::new().load(&bytes).unwrap();
        assert!(loaded.map_fd(0).is_some());
        assert!(loaded.map_left_out(1));
        assert!(loaded.map_fd(1).is_none());
        assert!(!loaded.map_left_out(0));
        // The event reader then only waits.
        let mut reader = EventReader::new(&mut loaded, 1).unwrap();
        assert_eq!(reader.drain(&mut |_| {}), 0);
    }

    #[test]
    fn long_and_odd_program_names_load_and_keep_their_names() {
        let name = "kprobe:vfs_read.isra.0+very_long_name";
        let bytes = elf(&[(loads_maps(name, &[0]), "kprobe/vfs_read")]);
        let loaded = Loader::new().load(&bytes).unwrap();
        let program = loaded.program(name).expect("found by its own name");
        assert_eq!(program.kind(), ProgramKind::KProbe);
        let info = sys::prog_info(program.fd()).unwrap();
        assert_eq!(info.name, "kprobe_vfs_read");
        assert_eq!(info.prog_type, sys::BPF_PROG_TYPE_KPROBE);
        assert_eq!(loaded.program_names(), [name]);
    }

    #[test]
    fn btf_path_loads_the_same_module() {
        let bytes = elf(&[(loads_maps("via_aya", &[0, 1]), TP_SECTION)]);
        let mut loader = Loader::new();
        let loaded = loader.load_with_btf(&bytes).unwrap();
        assert!(loader.aya.is_some());
        assert_eq!(loaded.program_names(), ["via_aya"]);
        assert_eq!(
            loaded.program("via_aya").map(LoadedProgram::kind),
            Some(ProgramKind::TracePoint)
        );
        assert_eq!(map_type(&loaded, 0), Some(6));
        assert_eq!(map_type(&loaded, 1), Some(BPF_MAP_TYPE_RINGBUF));
    }

    #[test]
    fn btf_program_sections_choose_the_btf_path() {
        let bytes = elf(&[(loads_maps("sw", &[0]), "tp_btf/sched_switch")]);
        let obj = Object::parse(AlignedBytes::copy_of(&bytes).as_bytes()).unwrap();
        assert!(needs_btf(&obj));
    }

    #[test]
    fn encoding_matches_the_compiler() {
        let prog = loads_maps("enc", &[0]);
        let bytes = insn::to_bytes(&prog.insns);
        let parsed = aya_obj::copy_instructions(&bytes).unwrap();
        assert_eq!(encode(&parsed), bytes);
    }

    #[test]
    fn aligned_copy_keeps_bytes() {
        let bytes: Vec<u8> = (0..13).collect();
        let a = AlignedBytes::copy_of(&bytes[1..]);
        assert_eq!(a.as_bytes(), &bytes[1..]);
        assert_eq!(a.as_bytes().as_ptr() as usize % 8, 0);
    }
}
