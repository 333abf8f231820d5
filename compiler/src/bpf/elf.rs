//! The in-memory ELF relocatable that aya loads.
//!
//! Layout (what aya 0.14 expects, see DESIGN.md §4):
//! - one executable section per program, named by program type
//!   (`tracepoint/…`, `perf_event`, `kprobe/…`, `raw_tp/…`, `uprobe`), with a global
//!   STT_FUNC symbol of non-zero size named after the program (aya keys programs by it);
//! - a legacy `maps` section: five u32 per map (type, key size, value size,
//!   max entries, flags), one STT_OBJECT symbol per map named [`map_object_name`];
//! - one `R_BPF_64_64` relocation per map-fd `ld_imm64`, against the map's symbol;
//! - a `license` section holding "GPL" (several helpers we call are GPL-only).

use super::{insn, BpfProgram};
use crate::ir::{MapId, MapKind, MapSpec, Module};
use object::write::{Object, Relocation, Symbol, SymbolId, SymbolSection};
use object::{
    elf, Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags,
    SymbolKind, SymbolScope,
};

/// Kernel map type numbers (`enum bpf_map_type`).
const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_PERCPU_HASH: u32 = 5;
const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = 6;
const BPF_MAP_TYPE_RINGBUF: u32 = 27;
const BPF_MAP_TYPE_STACK_TRACE: u32 = 7;

/// Bytes of one legacy map definition.
const MAP_DEF_SIZE: u64 = 20;

/// The kernel object name of a map (`[A-Za-z0-9_]`, ≤ 15 chars for ids below 10^7).
pub fn map_object_name(id: MapId) -> String {
    format!("rtrace_m{id}")
}

/// Wrap compiled programs and the module's maps into an ELF relocatable.
/// Each entry pairs a program with its ELF section name.
pub fn write_elf(module: &Module, programs: &[(BpfProgram, String)]) -> Vec<u8> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);

    let license = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    obj.append_section_data(license, b"GPL\0", 1);

    let map_symbols = add_maps(&mut obj, &module.maps);

    for (prog, section_name) in programs {
        let section = obj.add_section(
            Vec::new(),
            section_name.as_bytes().to_vec(),
            SectionKind::Text,
        );
        let code = insn::to_bytes(&prog.insns);
        let start = obj.append_section_data(section, &code, 8);
        obj.add_symbol(Symbol {
            name: prog.name.as_bytes().to_vec(),
            value: start,
            size: code.len() as u64,
            kind: SymbolKind::Text,
            scope: SymbolScope::Dynamic,
            weak: false,
            section: SymbolSection::Section(section),
            flags: SymbolFlags::None,
        });
        for reloc in &prog.map_relocs {
            // emit_function only records relocations for declared maps.
            let Some(&symbol) = map_symbols.get(reloc.map as usize) else {
                continue;
            };
            let added = obj.add_relocation(
                section,
                Relocation {
                    offset: start + reloc.insn as u64 * 8,
                    symbol,
                    addend: 0,
                    flags: RelocationFlags::Elf {
                        r_type: elf::R_BPF_64_64,
                    },
                },
            );
            added.expect("an R_BPF_64_64 relocation with addend 0 is always representable");
        }
    }
    obj.write()
        .expect("writing an ELF object to memory cannot fail")
}

/// The legacy `maps` section and one symbol per map, indexed by `MapId`.
fn add_maps(obj: &mut Object<'_>, maps: &[MapSpec]) -> Vec<SymbolId> {
    if maps.is_empty() {
        return Vec::new();
    }
    let section = obj.add_section(Vec::new(), b"maps".to_vec(), SectionKind::Data);
    let mut symbols = Vec::with_capacity(maps.len());
    for (id, spec) in maps.iter().enumerate() {
        let def: Vec<u8> = map_def(spec).iter().flat_map(|v| v.to_le_bytes()).collect();
        let offset = obj.append_section_data(section, &def, 4);
        symbols.push(obj.add_symbol(Symbol {
            name: map_object_name(id as MapId).into_bytes(),
            value: offset,
            size: MAP_DEF_SIZE,
            kind: SymbolKind::Data,
            scope: SymbolScope::Dynamic,
            weak: false,
            section: SymbolSection::Section(section),
            flags: SymbolFlags::None,
        }));
    }
    symbols
}

/// (type, key_size, value_size, max_entries, flags)
fn map_def(spec: &MapSpec) -> [u32; 5] {
    let kind = match spec.kind {
        MapKind::Hash => BPF_MAP_TYPE_HASH,
        MapKind::PerCpuHash => BPF_MAP_TYPE_PERCPU_HASH,
        MapKind::PerCpuArray => BPF_MAP_TYPE_PERCPU_ARRAY,
        MapKind::Array => BPF_MAP_TYPE_ARRAY,
        MapKind::RingBuf => BPF_MAP_TYPE_RINGBUF,
        MapKind::StackTrace | MapKind::StackTraceBuildId => BPF_MAP_TYPE_STACK_TRACE,
    };
    if spec.kind == MapKind::RingBuf {
        return [kind, 0, 0, ring_buffer_bytes(spec.max_entries), 0];
    }
    [
        kind,
        spec.key_size,
        spec.value_size,
        spec.max_entries.max(1),
        map_flags(spec.kind),
    ]
}

/// `BPF_F_STACK_BUILD_ID`: stack frames as (build id, file offset).
const BPF_F_STACK_BUILD_ID: u32 = 1 << 5;

fn map_flags(kind: MapKind) -> u32 {
    match kind {
        MapKind::StackTraceBuildId => BPF_F_STACK_BUILD_ID,
        _ => 0,
    }
}

/// The kernel wants a power-of-two multiple of the page size.
fn ring_buffer_bytes(requested: u32) -> u32 {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = u32::try_from(page).unwrap_or(4096).max(1);
    requested
        .max(page)
        .checked_next_power_of_two()
        .unwrap_or(1 << 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

    #[test]
    fn ring_buffer_size_is_a_power_of_two_pages() {
        assert_eq!(ring_buffer_bytes(0), 4096);
        assert_eq!(ring_buffer_bytes(5000), 8192);
        assert_eq!(ring_buffer_bytes(256 * 1024), 256 * 1024);
    }

    #[test]
    fn user_stack_maps_ask_for_build_ids() {
        let spec = |kind| MapSpec {
            name: ".ustack4".into(),
            kind,
            key_size: 4,
            value_size: 128,
            max_entries: 10,
            key_type: rtrace_stdlib::types::Type::U32,
            value_type: rtrace_stdlib::types::Type::None,
        };
        assert_eq!(
            map_def(&spec(MapKind::StackTraceBuildId)),
            [BPF_MAP_TYPE_STACK_TRACE, 4, 128, 10, 0x20]
        );
        assert_eq!(map_def(&spec(MapKind::StackTrace))[4], 0);
    }

    #[test]
    fn sections_symbols_and_relocations() {
        let module = Module {
            maps: vec![MapSpec {
                name: "@".into(),
                kind: MapKind::PerCpuArray,
                key_size: 4,
                value_size: 8,
                max_entries: 1,
                key_type: rtrace_stdlib::types::Type::None,
                value_type: rtrace_stdlib::types::Type::Count,
            }],
            ..Module::default()
        };
        let mut insns = vec![insn::mov64_imm(insn::R0, 0)];
        insns.extend(insn::ld_map_fd(insn::R1));
        insns.push(insn::exit());
        let prog = BpfProgram {
            name: "p0".into(),
            insns,
            map_relocs: vec![super::super::MapReloc { insn: 1, map: 0 }],
        };
        let bytes = write_elf(&module, &[(prog, "tracepoint/a/b".into())]);
        let file = object::File::parse(&*bytes).expect("valid ELF");
        let text = file
            .section_by_name("tracepoint/a/b")
            .expect("program section");
        assert_eq!(text.size(), 32);
        let relocs: Vec<_> = text.relocations().collect();
        assert_eq!(relocs.len(), 1);
        assert_eq!(relocs[0].0, 8);
        let maps = file.section_by_name("maps").expect("maps section");
        assert_eq!(
            maps.data().unwrap(),
            &[6, 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        );
        let names: Vec<_> = file
            .symbols()
            .filter_map(|s| s.name().ok().map(String::from))
            .collect();
        assert!(names.contains(&"p0".to_string()));
        assert!(names.contains(&"rtrace_m0".to_string()));
        let license = file.section_by_name("license").unwrap();
        assert_eq!(license.data().unwrap(), b"GPL\0");
    }
}
