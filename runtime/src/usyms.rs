//! User-space symbols: which function of which file a user address is in.
//!
//! A process's memory map (`/proc/PID/maps`) says which file, at which file
//! offset, each address range comes from; the file's load segments turn the
//! offset into a link-time address and its symbol tables name the function.
//! That handles executables, PIE executables and shared libraries alike.
//!
//! The map disappears with the process, so it is read early and kept: when
//! the kernel announces a process's first user stack
//! (`EventSpec::UserStackPid`), and when an event carrying a user address is
//! handled. Stacks printed at exit then resolve even for processes that are
//! gone. For the `-c` command, which may exit before its first event is read,
//! the map is also saved at its exit (see `remember_exit_maps`). Files are parsed once and shared by every process that maps them.
//!
//! `ustack` frames are recorded by the kernel as (build id, file offset)
//! (see `crate::buildid`): a process whose map is known prints them as its
//! own addresses, exactly as before; a process that is gone resolves them
//! through a file with that build id, and prints the file offset.

use crate::buildid::{read_build_id, BuildIdFrame, BuildIdIndex, BUILD_ID_SIZE};
use rtrace_compiler::userspace::elf_info::{ElfInfo, Segment};
use rtrace_stdlib::stacks::FrameSymbol;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Mutex;

/// `/proc/PID/maps` texts read while a process was stopped at its exit (see
/// [`remember_exit_maps`]), by pid: read when the live file is gone.
static EXIT_MAPS: Mutex<Option<HashMap<u32, String>>> = Mutex::new(None);

/// Keep the memory map of `pid`, read just before it exits (the `-c` command
/// is stopped there by ptrace), for symbols looked up after it is gone.
pub fn remember_exit_maps(pid: u32, maps: String) {
    let mut saved = EXIT_MAPS.lock().unwrap_or_else(|e| e.into_inner());
    saved.get_or_insert_with(HashMap::new).insert(pid, maps);
}

/// The memory map of `pid`: live, or as saved at its exit.
fn maps_text(pid: u32) -> Option<String> {
    let live = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .ok()
        .filter(|text| !text.is_empty());
    live.or_else(|| {
        let saved = EXIT_MAPS.lock().unwrap_or_else(|e| e.into_inner());
        saved.as_ref()?.get(&pid).cloned()
    })
}

/// The functions and load segments of one file.
#[derive(Debug, Default)]
struct FileSymbols {
    segments: Vec<Segment>,
    /// (link-time address, size, name), sorted by address.
    functions: Vec<(u64, u64, String)>,
    build_id: Option<[u8; BUILD_ID_SIZE]>,
}

impl FileSymbols {
    fn read(path: &Path) -> Option<FileSymbols> {
        let info = ElfInfo::read(path).ok()?;
        let mut functions: Vec<(u64, u64, String)> = info
            .functions
            .into_iter()
            .map(|f| (f.addr, f.size, f.name))
            .collect();
        // At one address, the shortest name without leading underscores wins
        // (`read` over `__read` and `__libc_read`).
        functions.sort_by(|a, b| {
            (a.0, a.2.starts_with('_'), a.2.len(), &a.2).cmp(&(
                b.0,
                b.2.starts_with('_'),
                b.2.len(),
                &b.2,
            ))
        });
        functions.dedup_by_key(|f| f.0);
        Some(FileSymbols {
            segments: info.segments,
            functions,
            build_id: read_build_id(path),
        })
    }

    /// The link-time address that file offset `offset` is loaded from.
    fn vaddr_of_offset(&self, offset: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|s| offset >= s.offset && offset < s.offset + s.memsz)
            .map(|s| offset - s.offset + s.vaddr)
    }

    /// The function containing link-time address `vaddr` (or starting at or
    /// below it, for symbols without a size).
    fn function_at(&self, vaddr: u64) -> Option<(&str, u64)> {
        let idx = self.functions.partition_point(|f| f.0 <= vaddr);
        let (addr, size, name) = self.functions.get(idx.checked_sub(1)?)?;
        (*size == 0 || vaddr < addr + size).then(|| (name.as_str(), vaddr - addr))
    }
}

/// One file-backed range of a process's address space.
#[derive(Debug)]
struct Mapping {
    start: u64,
    end: u64,
    /// File offset of `start`.
    offset: u64,
    path: String,
    file: Option<Rc<FileSymbols>>,
}

/// Symbol tables of processes (by pid) and files (by path), kept for the
/// whole session.
#[derive(Default)]
pub struct UserSymbols {
    processes: RefCell<HashMap<u32, Rc<Vec<Mapping>>>>,
    files: RefCell<HashMap<String, Option<Rc<FileSymbols>>>>,
    build_ids: RefCell<BuildIdIndex>,
    /// Build ids not found by a scan of the live processes (scanned once each).
    missing_ids: RefCell<HashSet<[u8; BUILD_ID_SIZE]>>,
}

impl UserSymbols {
    pub fn new() -> UserSymbols {
        UserSymbols::default()
    }

    /// Read (or re-read, after an exec) the memory map of `pid` and the
    /// symbols of every file in it. A process that is already gone keeps
    /// whatever was read before, or the map saved at its exit.
    pub fn note_process(&self, pid: u32) {
        let Some(text) = maps_text(pid) else {
            return;
        };
        let mut mappings = parse_maps(&text);
        if mappings.is_empty() {
            return; // an exited process that is not reaped yet
        }
        for m in &mut mappings {
            m.file = self.file(pid, &m.path);
        }
        self.processes.borrow_mut().insert(pid, Rc::new(mappings));
    }

    /// Whether the memory map of `pid` is known.
    pub fn knows(&self, pid: u32) -> bool {
        self.processes.borrow().contains_key(&pid)
    }

    /// The function `addr` is in, in process `pid`, with the file's path.
    pub fn frame(&self, addr: u64, pid: u32) -> Option<FrameSymbol> {
        let found = self.lookup(addr, pid);
        if found.is_some() {
            return found;
        }
        // Unknown process, or a mapping made after its map was read (dlopen,
        // exec): read it again while it may still exist.
        self.note_process(pid);
        self.lookup(addr, pid)
    }

    fn lookup(&self, addr: u64, pid: u32) -> Option<FrameSymbol> {
        let mappings = self.processes.borrow().get(&pid).cloned()?;
        let m = mappings.iter().find(|m| addr >= m.start && addr < m.end)?;
        let file = m.file.as_ref()?;
        let vaddr = file.vaddr_of_offset(addr - m.start + m.offset)?;
        let (name, offset) = file.function_at(vaddr)?;
        Some(FrameSymbol {
            name: name.to_string(),
            offset,
            module: Some(m.path.clone()),
        })
    }

    /// Index the build ids of `paths` (the probed binaries) and of every
    /// file mapped by a live process, for user frames recorded by build id.
    pub fn index_build_ids(&self, paths: &[String]) {
        let mut index = self.build_ids.borrow_mut();
        for path in paths {
            index.add_file(path);
        }
        index.add_live_processes();
    }

    /// A user frame of process `pid` recorded by the kernel: the address to
    /// print and its symbol. An address, or a (build id, offset) in a file the
    /// process is known to map, resolves through the process as before (same
    /// address, same output); otherwise a (build id, offset) resolves through a
    /// file with that build id, and the file offset stands for the address.
    pub fn recorded_frame(&self, frame: &BuildIdFrame, pid: u32) -> (u64, Option<FrameSymbol>) {
        let (id, offset) = match *frame {
            BuildIdFrame::Ip(addr) => return (addr, self.frame(addr, pid)),
            BuildIdFrame::File { id, offset } => (id, offset),
        };
        if !self.knows(pid) {
            self.note_process(pid);
        }
        if let Some(addr) = self.address_in(pid, &id, offset) {
            if let Some(symbol) = self.frame(addr, pid) {
                return (addr, Some(symbol));
            }
        }
        (offset, self.symbol_by_build_id(&id, offset, pid))
    }

    /// The address of file offset `offset` of the file with build id `id` in
    /// the known memory map of `pid`.
    fn address_in(&self, pid: u32, id: &[u8; BUILD_ID_SIZE], offset: u64) -> Option<u64> {
        let mappings = self.processes.borrow().get(&pid).cloned()?;
        mappings
            .iter()
            .find(|m| {
                m.file.as_ref().and_then(|f| f.build_id).as_ref() == Some(id)
                    && offset >= m.offset
                    && offset - m.offset < m.end - m.start
            })
            .map(|m| m.start + (offset - m.offset))
    }

    /// The function at file offset `offset` of a file with build id `id`.
    fn symbol_by_build_id(
        &self,
        id: &[u8; BUILD_ID_SIZE],
        offset: u64,
        pid: u32,
    ) -> Option<FrameSymbol> {
        let path = self.path_of_build_id(id)?;
        let file = self.file(pid, &path)?;
        if file.build_id.as_ref() != Some(id) {
            return None; // the file was replaced since it was indexed
        }
        let (name, off) = file.function_at(file.vaddr_of_offset(offset)?)?;
        Some(FrameSymbol {
            name: name.to_string(),
            offset: off,
            module: Some(path),
        })
    }

    /// A file with build id `id`; an unknown id triggers one new scan of
    /// the files live processes map.
    fn path_of_build_id(&self, id: &[u8; BUILD_ID_SIZE]) -> Option<String> {
        if let Some(path) = self.build_ids.borrow().path(id) {
            return Some(path.to_string());
        }
        if !self.missing_ids.borrow_mut().insert(*id) {
            return None;
        }
        let mut index = self.build_ids.borrow_mut();
        index.add_live_processes();
        index.path(id).map(str::to_string)
    }

    /// The symbols of the file at `path` as process `pid` sees it (through
    /// its root, so files of other mount namespaces and deleted files work).
    fn file(&self, pid: u32, path: &str) -> Option<Rc<FileSymbols>> {
        if let Some(known) = self.files.borrow().get(path) {
            return known.clone();
        }
        let through_root = PathBuf::from(format!("/proc/{pid}/root{path}"));
        let symbols = FileSymbols::read(Path::new(path))
            .or_else(|| FileSymbols::read(&through_root))
            .map(Rc::new);
        if let Some(id) = symbols.as_ref().and_then(|s| s.build_id) {
            self.build_ids.borrow_mut().insert(id, path);
        }
        self.files
            .borrow_mut()
            .insert(path.to_string(), symbols.clone());
        symbols
    }
}

/// The file-backed lines of a `/proc/PID/maps` text:
/// `start-end perms offset dev inode path`.
fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let range = fields.next()?;
            let _perms = fields.next()?;
            let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
            let _dev = fields.next()?;
            let _inode = fields.next()?;
            let path: Vec<&str> = fields.collect();
            let path = path.join(" ");
            if !path.starts_with('/') {
                return None; // [heap], [stack], [vdso], anonymous memory
            }
            let path = path.trim_end_matches(" (deleted)").to_string();
            let (start, end) = range.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                offset,
                path,
                file: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_keep_file_ranges_only() {
        let text = "\
55d0c0a00000-55d0c0a01000 r--p 00000000 fe:01 123 /usr/bin/x\n\
55d0c0a01000-55d0c0a02000 r-xp 00001000 fe:01 123 /usr/bin/x\n\
7ffd1000-7ffd2000 rw-p 00000000 00:00 0 [stack]\n\
7f00-8f00 r-xp 00002000 fe:01 9 /tmp/a b (deleted)\n";
        let maps = parse_maps(text);
        assert_eq!(maps.len(), 3);
        assert_eq!(
            (maps[1].start, maps[1].end, maps[1].offset),
            (0x55d0c0a01000, 0x55d0c0a02000, 0x1000)
        );
        assert_eq!(maps[2].path, "/tmp/a b");
    }

    #[test]
    fn build_id_frame_resolves_without_its_process() {
        // A frame of our own text as the kernel records it, attributed to a
        // pid that does not exist: only the build-id index can name it.
        let exe = std::env::current_exe().unwrap();
        let exe = exe.to_str().unwrap().to_string();
        let id = read_build_id(Path::new(&exe)).expect("rustc links a build id");
        let addr = maps_lines_keep_file_ranges_only as *const () as u64 + 2;
        let maps = parse_maps(&std::fs::read_to_string("/proc/self/maps").unwrap());
        let m = maps
            .iter()
            .find(|m| addr >= m.start && addr < m.end)
            .expect("own text is mapped");
        let offset = addr - m.start + m.offset;
        let gone = 0x3fff_fff0; // above any pid_max
        let syms = UserSymbols::new();
        syms.index_build_ids(std::slice::from_ref(&exe));
        let (printed, symbol) = syms.recorded_frame(&BuildIdFrame::File { id, offset }, gone);
        let symbol = symbol.expect("resolved by build id");
        assert!(
            symbol.name.contains("maps_lines_keep_file_ranges_only"),
            "{symbol:?}"
        );
        assert_eq!((printed, symbol.offset), (offset, 2));
        assert_eq!(symbol.module.as_deref(), Some(exe.as_str()));
        // Our own pid is known: the same frame prints as our own address.
        let (printed, symbol) =
            syms.recorded_frame(&BuildIdFrame::File { id, offset }, std::process::id());
        assert_eq!(printed, addr);
        assert_eq!(symbol.unwrap().offset, 2);
    }

    #[test]
    fn own_function_resolves_through_our_own_map() {
        // This test binary is a PIE: its code is mapped far from its link addresses.
        let syms = UserSymbols::new();
        let addr = maps_lines_keep_file_ranges_only as *const () as u64;
        let frame = syms
            .frame(addr + 1, std::process::id())
            .expect("own text resolves");
        assert!(
            frame.name.contains("maps_lines_keep_file_ranges_only"),
            "{frame:?}"
        );
        assert_eq!(frame.offset, 1);
        assert!(syms.knows(std::process::id()));
    }
}
