//! What uprobes and USDT need from an ELF file: its function symbols (from
//! `.symtab`, `.dynsym` and a separate debug file found by build id), the load
//! segments that turn an address into a file offset, and its USDT notes.

use super::usdt::{self, UsdtSite};
use object::read::elf::{ElfFile64, ProgramHeader};
use object::{elf, Endianness, Object, ObjectSection, ObjectSymbol, SymbolKind};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where separate debug files live, by build id (`xx/yyyy….debug`).
const DEBUG_BUILD_ID_DIR: &str = "/usr/lib/debug/.build-id";

/// A `PT_LOAD` segment: addresses `[vaddr, vaddr + memsz)` come from file
/// offset `offset` onwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
}

/// A function in the file (link-time address, size in bytes; 0 if unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionSymbol {
    pub name: String,
    pub addr: u64,
    pub size: u64,
}

#[derive(Debug, Default)]
pub struct ElfInfo {
    pub path: PathBuf,
    pub segments: Vec<Segment>,
    /// Sorted by name, one entry per name.
    pub functions: Vec<FunctionSymbol>,
    /// Every defined symbol (functions and data) by name, for USDT `sym(%rip)`.
    pub symbols: HashMap<String, u64>,
    /// USDT probe sites, in note order.
    pub usdt: Vec<UsdtSite>,
}

impl ElfInfo {
    /// Read `path`. The error is one sentence for the user.
    pub fn read(path: &Path) -> Result<ElfInfo, String> {
        let data =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file = ElfFile64::<Endianness>::parse(&*data)
            .map_err(|e| format!("{} is not a 64-bit ELF file: {e}", path.display()))?;
        let mut info = ElfInfo {
            path: path.to_path_buf(),
            segments: load_segments(&file),
            ..ElfInfo::default()
        };
        let mut functions = HashMap::new();
        collect_symbols(&file, &mut functions, &mut info.symbols);
        if let Some(debug) = debug_file(&file) {
            if let Ok(data) = std::fs::read(&debug) {
                if let Ok(dfile) = ElfFile64::<Endianness>::parse(&*data) {
                    collect_symbols(&dfile, &mut functions, &mut info.symbols);
                }
            }
        }
        let mut functions: Vec<FunctionSymbol> = functions.into_values().collect();
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        info.functions = functions;
        info.usdt = read_usdt(&file)?;
        Ok(info)
    }

    /// The file offset the kernel needs for a probe at link-time address `vaddr`.
    pub fn file_offset(&self, vaddr: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|s| vaddr >= s.vaddr && vaddr < s.vaddr + s.memsz)
            .map(|s| vaddr - s.vaddr + s.offset)
    }

    pub fn function(&self, name: &str) -> Option<&FunctionSymbol> {
        self.functions
            .binary_search_by(|f| f.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.functions[i])
    }

    /// The function whose body holds `vaddr`, preferring an exact start.
    pub fn function_at(&self, vaddr: u64) -> Option<&FunctionSymbol> {
        self.functions
            .iter()
            .filter(|f| f.addr == vaddr || (vaddr > f.addr && vaddr < f.addr + f.size))
            .min_by_key(|f| (f.addr != vaddr, f.name.starts_with('_'), f.name.len()))
    }
}

fn load_segments(file: &ElfFile64<Endianness>) -> Vec<Segment> {
    let endian = file.endian();
    file.elf_program_headers()
        .iter()
        .filter(|ph| ph.p_type(endian) == elf::PT_LOAD)
        .map(|ph| Segment {
            vaddr: ph.p_vaddr(endian),
            memsz: ph.p_memsz(endian),
            offset: ph.p_offset(endian),
        })
        .collect()
}

/// Defined symbols of `.symtab` and `.dynsym`; versioned duplicates (`f@@V`)
/// and aliases keep the first name seen.
fn collect_symbols(
    file: &ElfFile64<Endianness>,
    functions: &mut HashMap<String, FunctionSymbol>,
    symbols: &mut HashMap<String, u64>,
) {
    for sym in file.symbols().chain(file.dynamic_symbols()) {
        if sym.is_undefined() || sym.address() == 0 {
            continue;
        }
        let Ok(name) = sym.name() else { continue };
        if name.is_empty() {
            continue;
        }
        symbols.entry(name.to_string()).or_insert(sym.address());
        if sym.kind() == SymbolKind::Text {
            functions
                .entry(name.to_string())
                .or_insert_with(|| FunctionSymbol {
                    name: name.to_string(),
                    addr: sym.address(),
                    size: sym.size(),
                });
        }
    }
}

/// `/usr/lib/debug/.build-id/ab/cdef….debug` for a file with a build id.
fn debug_file(file: &ElfFile64<Endianness>) -> Option<PathBuf> {
    let id = file.build_id().ok()??;
    if id.len() < 2 {
        return None;
    }
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let path = Path::new(DEBUG_BUILD_ID_DIR)
        .join(&hex[..2])
        .join(format!("{}.debug", &hex[2..]));
    path.exists().then_some(path)
}

/// The `.note.stapsdt` sites, with addresses corrected for prelinking: the
/// notes record where `.stapsdt.base` was at link time.
fn read_usdt(file: &ElfFile64<Endianness>) -> Result<Vec<UsdtSite>, String> {
    let Some(notes) = file.section_by_name(".note.stapsdt") else {
        return Ok(Vec::new());
    };
    let data = notes
        .data()
        .map_err(|e| format!("cannot read the USDT notes: {e}"))?;
    let base = file.section_by_name(".stapsdt.base").map(|s| s.address());
    Ok(usdt::parse_notes(data, base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libc_functions_and_offsets() {
        let libc = super::super::ld_cache::find_library("libc").unwrap();
        let info = ElfInfo::read(&libc).unwrap();
        let f = info.function("getaddrinfo").expect("getaddrinfo in libc");
        assert!(f.size > 0);
        let off = info.file_offset(f.addr).unwrap();
        // Text of a shared library is mapped at its file offset's page.
        assert_eq!(off % 4096, f.addr % 4096);
        assert_eq!(info.function_at(f.addr + 1).map(|g| g.addr), Some(f.addr));
        assert!(info.functions.windows(2).all(|w| w[0].name < w[1].name));
    }
}
