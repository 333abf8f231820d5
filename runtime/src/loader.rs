//! Loading a compiled module's ELF into the kernel with aya.
//!
//! [`Loader`] is created once per process: aya's `EbpfLoader::new()` parses the
//! whole vmlinux BTF (~13 MiB), which must not be repeated per script or per REPL
//! line. [`Loaded`] owns the resulting `aya::Ebpf` (maps and programs) and, through
//! `attach.rs`, every attachment made with it.

use crate::attach::Links;
use aya::maps::{Map, MapData};
use aya::programs::{Program, ProgramError};
use aya::{Ebpf, EbpfError, EbpfLoader};
use rtrace_compiler::bpf::map_object_name;
use rtrace_compiler::ir::MapId;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Once;

/// Loads ELF objects produced by the eBPF back end. Create one per process.
pub struct Loader {
    aya: EbpfLoader<'static>,
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

/// Raises `RLIMIT_MEMLOCK` to infinity once per process: kernels before 5.11
/// charge map memory to it; newer ones ignore it.
fn raise_memlock_limit() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let unlimited = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: `unlimited` is a valid rlimit the call only reads.
        let _ = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };
    });
}

impl Loader {
    /// Parses vmlinux BTF (once) and raises the memlock limit.
    pub fn new() -> Loader {
        raise_memlock_limit();
        Loader {
            aya: EbpfLoader::new(),
        }
    }

    /// Creates the module's maps and loads every program into the kernel.
    pub fn load(&mut self, elf: &[u8]) -> Result<Loaded, LoadError> {
        let aligned = AlignedBytes::copy_of(elf);
        let mut ebpf = self.aya.load(aligned.as_bytes()).map_err(from_ebpf_error)?;
        load_programs(&mut ebpf)?;
        Ok(Loaded {
            links: Links::default(),
            ebpf,
        })
    }
}

impl Default for Loader {
    fn default() -> Loader {
        Loader::new()
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

fn load_programs(ebpf: &mut Ebpf) -> Result<(), LoadError> {
    for (name, program) in ebpf.programs_mut() {
        let result = match program {
            Program::TracePoint(p) => p.load(),
            Program::PerfEvent(p) => p.load(),
            Program::KProbe(p) => p.load(),
            Program::UProbe(p) => p.load(),
            Program::RawTracePoint(p) => p.load(),
            _ => {
                return Err(LoadError::UnsupportedProgram {
                    program: name.to_string(),
                })
            }
        };
        result.map_err(|e| from_program_error(name, e))?;
    }
    Ok(())
}

fn from_program_error(program: &str, error: ProgramError) -> LoadError {
    match error {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let log = verifier_log.to_string();
            if log.trim().is_empty() {
                if let Some(e) = errno_error(&io_error, &format!("load probe {program}")) {
                    return e;
                }
            }
            LoadError::Verifier {
                program: program.to_string(),
                log: if log.trim().is_empty() {
                    io_error.to_string()
                } else {
                    log
                },
            }
        }
        other => from_any_error(&other, &format!("load probe {program}")),
    }
}

fn from_ebpf_error(error: EbpfError) -> LoadError {
    match error {
        EbpfError::ProgramError(e) => from_program_error("(unknown)", e),
        other => from_any_error(&other, "create the BPF maps"),
    }
}

/// Classifies an error by the first OS error in its source chain.
fn from_any_error(error: &(dyn std::error::Error + 'static), what: &str) -> LoadError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if let Some(classified) = errno_error(io, what) {
                return classified;
            }
        }
        cause = e.source();
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

/// A module loaded into the kernel: its maps, its programs, and the attachments
/// made from it (detached when this is dropped).
pub struct Loaded {
    // Declared first so attachments are dropped (detached) before the programs.
    pub(crate) links: Links,
    pub(crate) ebpf: Ebpf,
}

impl Loaded {
    /// The aya map for an IR map id.
    pub fn map(&self, id: MapId) -> Option<&Map> {
        self.ebpf.map(&map_object_name(id))
    }

    /// Removes the aya map from this object (e.g. to build a ring buffer reader).
    pub fn take_map(&mut self, id: MapId) -> Option<Map> {
        self.ebpf.take_map(&map_object_name(id))
    }

    /// The kernel fd of an IR map.
    pub fn map_fd(&self, id: MapId) -> Option<BorrowedFd<'_>> {
        self.map(id).and_then(map_data).map(|d| d.fd().as_fd())
    }

    /// The kernel fd of a loaded program.
    pub fn program_fd(&self, name: &str) -> Option<BorrowedFd<'_>> {
        let program = self.ebpf.program(name)?;
        program.fd().ok().map(|fd| fd.as_fd())
    }

    /// Names of all programs in the module.
    pub fn program_names(&self) -> Vec<String> {
        self.ebpf.programs().map(|(n, _)| n.to_string()).collect()
    }

    /// The underlying aya object, for anything this wrapper does not cover.
    pub fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }

    pub fn ebpf_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
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

    #[test]
    fn aligned_copy_keeps_bytes() {
        let bytes: Vec<u8> = (0..13).collect();
        let a = AlignedBytes::copy_of(&bytes[1..]);
        assert_eq!(a.as_bytes(), &bytes[1..]);
        assert_eq!(a.as_bytes().as_ptr() as usize % 8, 0);
    }
}
