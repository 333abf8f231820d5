//! Warnings for maps that filled up: the kernel counts refused inserts per
//! script map (see the compiler's `.dropped` map); user space reports them.

use crate::maps::MapTable;
use rtrace_compiler::ir::MapId;
use rtrace_compiler::lower::internal_maps::DROPPED_UPDATES_MAP;
use rtrace_compiler::pipeline::Compiled;
use rtrace_stdlib::value::read_u64;
use std::io;

/// (map name, max_entries, updates dropped) for every script map that lost updates.
pub fn dropped_updates(
    compiled: &Compiled,
    maps: &MapTable,
) -> io::Result<Vec<(String, u32, u64)>> {
    let Some(counters) = compiled
        .module
        .maps
        .iter()
        .position(|m| m.name == DROPPED_UPDATES_MAP)
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for id in 0..compiled.program.maps.len() {
        let index = (id as u32).to_ne_bytes();
        let total: u64 = match maps.lookup(counters as MapId, Some(&index))? {
            Some(per_cpu) => per_cpu.iter().map(|v| read_u64(v, 0)).sum(),
            None => 0,
        };
        if total > 0 {
            let spec = &compiled.module.maps[id];
            out.push((spec.name.clone(), spec.max_entries, total));
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
pub fn warning(name: &str, max_entries: u32, dropped: u64) -> String {
    let updates = if dropped == 1 { "update" } else { "updates" };
    format!(
        "WARNING: map {name} is full ({max_entries} keys): {dropped} {updates} dropped; \
         raise the limit with BPFTRACE_MAP_KEYS_MAX=N or `config = {{ max_map_keys = N }}`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_names_map_limit_and_count() {
        assert_eq!(
            warning("@x", 10, 1),
            "WARNING: map @x is full (10 keys): 1 update dropped; raise the limit with \
             BPFTRACE_MAP_KEYS_MAX=N or `config = { max_map_keys = N }`"
        );
        assert!(warning("@", 4096, 7).contains(": 7 updates dropped;"));
    }
}
