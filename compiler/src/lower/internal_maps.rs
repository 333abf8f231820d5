//! Internal maps the back ends need next to the script's maps: the scratch map
//! for slots too big for the stack and the per-map counters of updates refused in
//! user-space blocks.

use crate::bpf::scratch_map::SCRATCH_MAP;
use crate::ir::{MapKind, MapSpec};
use rtrace_stdlib::types::Type;

/// Name of the per-CPU array (one u64 per script map, indexed by map id)
/// counting inserts the kernel refused because the map was full.
pub const DROPPED_UPDATES_MAP: &str = ".dropped";

/// The scratch map; its value size is set by the pipeline once code generation
/// knows what the probes need (8 bytes if none does).
pub fn scratch_map() -> MapSpec {
    MapSpec {
        name: SCRATCH_MAP.to_string(),
        kind: MapKind::PerCpuArray,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        key_type: Type::None,
        value_type: Type::None,
    }
}

/// One dropped-update counter per script map.
pub fn dropped_updates_map(script_maps: usize) -> MapSpec {
    MapSpec {
        name: DROPPED_UPDATES_MAP.to_string(),
        kind: MapKind::PerCpuArray,
        key_size: 4,
        value_size: 8,
        max_entries: script_maps.max(1) as u32,
        key_type: Type::None,
        value_type: Type::Count,
    }
}
