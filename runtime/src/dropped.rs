//! Warnings for maps that filled up. A keyed map holding `max_entries` keys at the
//! end has refused every new key after that (the kernel's inserts fail silently;
//! counting each failure would cost a branch per update in every probe). Updates
//! refused in BEGIN/END/interval blocks are counted exactly (the compiler's
//! `.dropped` map).

use crate::maps::MapTable;
use rtrace_compiler::ir::{MapId, MapKind};
use rtrace_compiler::lower::internal_maps::DROPPED_UPDATES_MAP;
use rtrace_compiler::pipeline::Compiled;
use rtrace_stdlib::value::read_u64;
use std::io;

/// A script map that filled up: its name, its limit, and the updates refused in
/// user-space blocks (the kernel's refusals are not counted).
pub struct FullMap {
    pub name: String,
    pub max_entries: u32,
    pub counted: u64,
}

/// Every script map that is full or lost updates.
pub fn full_maps(compiled: &Compiled, maps: &MapTable) -> io::Result<Vec<FullMap>> {
    let counters = compiled
        .module
        .maps
        .iter()
        .position(|m| m.name == DROPPED_UPDATES_MAP);
    let mut out = Vec::new();
    for id in 0..compiled.program.maps.len() {
        let counted: u64 = match counters {
            Some(c) => match maps.lookup(c as MapId, Some(&(id as u32).to_ne_bytes()))? {
                Some(per_cpu) => per_cpu.iter().map(|v| read_u64(v, 0)).sum(),
                None => 0,
            },
            None => 0,
        };
        let spec = &compiled.module.maps[id];
        let keyed = matches!(spec.kind, MapKind::Hash | MapKind::PerCpuHash);
        let full = keyed && maps.len(id as MapId)? >= spec.max_entries as usize;
        if full || counted > 0 {
            out.push(FullMap {
                name: spec.name.clone(),
                max_entries: spec.max_entries,
                counted,
            });
        }
    }
    Ok(out)
}

/// A map update from JIT code failed: a full map (E2BIG) counts as a dropped
/// update like in the kernel; any other error is reported right away.
pub fn note_failed_update(maps: &MapTable, result: io::Result<()>, what: &str, map: MapId) {
    let Err(e) = result else {
        return;
    };
    const E2BIG: i32 = 7;
    let counters = maps.ids().into_iter().find(|&id| {
        maps.spec(id)
            .is_some_and(|s| s.name == DROPPED_UPDATES_MAP && map < s.max_entries)
    });
    match (e.raw_os_error(), counters) {
        (Some(E2BIG), Some(counters)) => {
            let index = map.to_ne_bytes();
            let bumped = maps.lookup(counters, Some(&index)).and_then(|found| {
                let mut copies = found.unwrap_or_default();
                if copies.is_empty() {
                    copies.push(vec![0u8; 8]);
                }
                let n = read_u64(&copies[0], 0) + 1;
                copies[0][..8].copy_from_slice(&n.to_ne_bytes());
                maps.update(counters, Some(&index), &copies)
            });
            if let Err(e) = bumped {
                eprintln!("rtrace: counting a dropped {what} on map {map} failed: {e}");
            }
        }
        _ => eprintln!("rtrace: {what} on map {map} failed: {e}"),
    }
}

/// The warning printed on stderr for one full map.
pub fn warning(map: &FullMap) -> String {
    let lost = match map.counted {
        0 => "new keys were dropped".to_string(),
        1 => "1 update dropped".to_string(),
        n => format!("{n} updates dropped"),
    };
    format!(
        "WARNING: map {} is full ({} keys): {lost}; \
         raise the limit with BPFTRACE_MAP_KEYS_MAX=N or `config = {{ max_map_keys = N }}`",
        map.name, map.max_entries
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_names_map_limit_and_count() {
        let map = |counted| FullMap {
            name: "@x".into(),
            max_entries: 10,
            counted,
        };
        assert_eq!(
            warning(&map(1)),
            "WARNING: map @x is full (10 keys): 1 update dropped; raise the limit with \
             BPFTRACE_MAP_KEYS_MAX=N or `config = { max_map_keys = N }`"
        );
        assert!(warning(&map(7)).contains(": 7 updates dropped;"));
        assert!(warning(&map(0)).contains(": new keys were dropped;"));
    }
}
