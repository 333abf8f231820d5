//! The script's maps as user space sees them: MapId → kernel fd + [`MapSpec`],
//! reading (for printing), clearing, zeroing and deleting.
//!
//! Storage conventions decided by the compiler (see `ir.rs`):
//! - keyless maps use a u32 index key (0), aggregations are per-CPU;
//! - `hist`/`lhist` keys are the user key followed by a u64 bucket index, except
//!   keyless ones, which are a `PerCpuArray` whose u32 index is the bucket.
//!
//! [`MapTable::read_raw`] hides these: its keys are always the user key bytes
//! (plus the u64 bucket for histograms), with empty user keys for keyless maps.

use crate::loader::Loaded;
use crate::sys;
use rtrace_compiler::ir::{MapId, MapKind, MapSpec};
use rtrace_stdlib::output::{RawEntry, RawMap};
use rtrace_stdlib::types::{Type, AGG_COUNT, MINMAX_VALID};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

/// One map entry: its key as printed (see the module comment) and its value,
/// once per possible CPU for per-CPU maps, once otherwise.
pub type Entry = (Vec<u8>, Vec<Vec<u8>>);

struct TableEntry {
    fd: OwnedFd,
    spec: MapSpec,
}

/// The maps of a loaded module. Cloning is cheap (the fds are shared).
#[derive(Clone, Default)]
pub struct MapTable {
    maps: HashMap<MapId, Arc<TableEntry>>,
}

impl MapTable {
    pub fn new() -> MapTable {
        MapTable::default()
    }

    /// Every map of `specs` (indexed by MapId) that `loaded` created, except the
    /// ring buffer. The table takes its own descriptor of each map and closes
    /// aya's at once, so a script costs one descriptor per map even while the
    /// table is built (scripts may have thousands of maps).
    pub fn from_loaded(loaded: &mut Loaded, specs: &[MapSpec]) -> io::Result<MapTable> {
        let mut table = MapTable::new();
        for (id, spec) in specs.iter().enumerate() {
            let id = id as MapId;
            if spec.kind == MapKind::RingBuf {
                continue;
            }
            let fd = loaded.map_fd(id).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("map {id} ({}) was not created", spec.name),
                )
            })?;
            let fd = fd.try_clone_to_owned()?;
            drop(loaded.take_map(id));
            table.insert(id, fd, spec.clone());
        }
        Ok(table)
    }

    /// Adds (or replaces) a map.
    pub fn insert(&mut self, id: MapId, fd: OwnedFd, spec: MapSpec) {
        self.maps.insert(id, Arc::new(TableEntry { fd, spec }));
    }

    pub fn spec(&self, id: MapId) -> Option<&MapSpec> {
        self.maps.get(&id).map(|e| &e.spec)
    }

    pub fn fd(&self, id: MapId) -> Option<BorrowedFd<'_>> {
        self.maps.get(&id).map(|e| e.fd.as_fd())
    }

    /// The map ids in the table, ascending.
    pub fn ids(&self) -> Vec<MapId> {
        let mut ids: Vec<MapId> = self.maps.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    fn entry(&self, id: MapId) -> io::Result<&TableEntry> {
        self.maps
            .get(&id)
            .map(|e| &**e)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no map with id {id}")))
    }

    /// The value(s) stored under `key` (`None`: the keyless entry): one vector per
    /// possible CPU for per-CPU maps, one otherwise. `None` if absent.
    pub fn lookup(&self, id: MapId, key: Option<&[u8]>) -> io::Result<Option<Vec<Vec<u8>>>> {
        let e = self.entry(id)?;
        lookup_values(e, &kernel_key(&e.spec, key))
    }

    /// Stores `values` under `key`: per CPU for per-CPU maps (missing CPUs get
    /// zero), `values[0]` otherwise.
    pub fn update(&self, id: MapId, key: Option<&[u8]>, values: &[Vec<u8>]) -> io::Result<()> {
        let e = self.entry(id)?;
        store_values(e, &kernel_key(&e.spec, key), values, sys::BPF_ANY)
    }

    /// Every entry, keys in the printed form described in the module comment.
    /// Keyless histograms skip empty buckets; keyless aggregations appear only
    /// once something was recorded.
    pub fn read_entries(&self, id: MapId) -> io::Result<Vec<Entry>> {
        let e = self.entry(id)?;
        let stored = stored_entries(e)?;
        if e.spec.key_type != Type::None {
            return Ok(stored);
        }
        let histogram = matches!(e.spec.value_type, Type::Hist | Type::Lhist { .. });
        let printable = stored.into_iter().filter_map(|(key, values)| {
            if histogram {
                let bucket = u64::from(index_of(&key));
                (!all_zero(&values)).then(|| (bucket.to_le_bytes().to_vec(), values))
            } else {
                is_set(&e.spec.value_type, &values).then(|| (Vec::new(), values))
            }
        });
        Ok(printable.collect())
    }

    /// The number of entries [`MapTable::read_entries`] would return; keyed maps
    /// are counted by their keys alone, without reading any value.
    pub fn len(&self, id: MapId) -> io::Result<usize> {
        let e = self.entry(id)?;
        if e.spec.key_type == Type::None {
            return Ok(self.read_entries(id)?.len());
        }
        Ok(stored_keys(e)?.len())
    }

    /// The whole map in the form the printers take (see [`MapTable::read_entries`]).
    pub fn read_raw(&self, id: MapId) -> io::Result<RawMap> {
        let spec = &self.entry(id)?.spec;
        let entries = self
            .read_entries(id)?
            .into_iter()
            .map(|(key, values)| RawEntry { key, values })
            .collect();
        Ok(RawMap {
            name: spec.name.clone(),
            key_type: spec.key_type.clone(),
            value_type: spec.value_type.clone(),
            entries,
        })
    }

    /// Removes every entry (arrays, which cannot lose entries, are zeroed).
    pub fn clear(&self, id: MapId) -> io::Result<()> {
        let e = self.entry(id)?;
        if is_array(&e.spec) {
            return self.zero(id);
        }
        for key in sys::keys(e.fd.as_fd(), e.spec.key_size, e.spec.max_entries)? {
            sys::delete(e.fd.as_fd(), &key)?;
        }
        Ok(())
    }

    /// Sets every value to zero, keeping the keys.
    pub fn zero(&self, id: MapId) -> io::Result<()> {
        let e = self.entry(id)?;
        let flags = if is_array(&e.spec) {
            sys::BPF_ANY
        } else {
            sys::BPF_EXIST
        };
        for key in stored_keys(e)? {
            match store_values(e, &key, &[], flags) {
                // Deleted since the keys were listed: nothing left to zero.
                Err(err) if err.raw_os_error() == Some(libc::ENOENT) => {}
                other => other?,
            }
        }
        Ok(())
    }

    /// Deletes one entry (`None`: the keyless one); arrays zero it instead. For a
    /// keyed histogram, the user key alone deletes all of its buckets.
    /// Returns whether anything was there.
    pub fn delete(&self, id: MapId, key: Option<&[u8]>) -> io::Result<bool> {
        let e = self.entry(id)?;
        let kkey = kernel_key(&e.spec, key);
        if is_array(&e.spec) {
            let existed = lookup_values(e, &kkey)?.is_some_and(|v| !all_zero(&v));
            store_values(e, &kkey, &[], sys::BPF_ANY)?;
            return Ok(existed);
        }
        if let Some(user_key) = key.filter(|k| is_histogram_user_key(&e.spec, k)) {
            return delete_buckets(e, user_key);
        }
        sys::delete(e.fd.as_fd(), &kkey)
    }
}

fn is_per_cpu(spec: &MapSpec) -> bool {
    matches!(spec.kind, MapKind::PerCpuHash | MapKind::PerCpuArray)
}

fn is_array(spec: &MapSpec) -> bool {
    matches!(spec.kind, MapKind::Array | MapKind::PerCpuArray)
}

/// The kernel key for a user key: keyless maps use index 0; keys are padded or
/// cut to the map's key size.
pub fn kernel_key(spec: &MapSpec, key: Option<&[u8]>) -> Vec<u8> {
    let mut kkey = vec![0u8; spec.key_size as usize];
    if let Some(key) = key {
        let n = key.len().min(kkey.len());
        kkey[..n].copy_from_slice(&key[..n]);
    }
    kkey
}

fn is_histogram_user_key(spec: &MapSpec, key: &[u8]) -> bool {
    matches!(spec.value_type, Type::Hist | Type::Lhist { .. })
        && spec.key_type != Type::None
        && key.len() + 8 == spec.key_size as usize
}

fn delete_buckets(e: &TableEntry, user_key: &[u8]) -> io::Result<bool> {
    let mut any = false;
    for key in sys::keys(e.fd.as_fd(), e.spec.key_size, e.spec.max_entries)? {
        if key.starts_with(user_key) {
            any |= sys::delete(e.fd.as_fd(), &key)?;
        }
    }
    Ok(any)
}

fn lookup_values(e: &TableEntry, kkey: &[u8]) -> io::Result<Option<Vec<Vec<u8>>>> {
    if is_per_cpu(&e.spec) {
        return sys::lookup_percpu(e.fd.as_fd(), kkey, e.spec.value_size);
    }
    let mut value = vec![0u8; e.spec.value_size as usize];
    Ok(sys::lookup(e.fd.as_fd(), kkey, &mut value)?.then(|| vec![value]))
}

/// Writes `values` (empty: zeros) under a kernel key.
fn store_values(e: &TableEntry, kkey: &[u8], values: &[Vec<u8>], flags: u64) -> io::Result<()> {
    if is_per_cpu(&e.spec) {
        return sys::update_percpu(e.fd.as_fd(), kkey, e.spec.value_size, values, flags);
    }
    let mut value = vec![0u8; e.spec.value_size as usize];
    if let Some(first) = values.first() {
        let n = first.len().min(value.len());
        value[..n].copy_from_slice(&first[..n]);
    }
    sys::update(e.fd.as_fd(), kkey, &value, flags)
}

/// The kernel keys of a map: every index of an array, the present keys of a hash.
fn stored_keys(e: &TableEntry) -> io::Result<Vec<Vec<u8>>> {
    if is_array(&e.spec) {
        let size = e.spec.key_size as usize;
        return Ok((0..e.spec.max_entries)
            .map(|i| {
                let mut key = vec![0u8; size];
                let n = size.min(4);
                key[..n].copy_from_slice(&i.to_le_bytes()[..n]);
                key
            })
            .collect());
    }
    sys::keys(e.fd.as_fd(), e.spec.key_size, e.spec.max_entries)
}

/// Kernel key and value(s) of every stored entry.
fn stored_entries(e: &TableEntry) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for key in stored_keys(e)? {
        // A key deleted between listing and lookup is simply skipped.
        if let Some(values) = lookup_values(e, &key)? {
            entries.push((key, values));
        }
    }
    Ok(entries)
}

/// The u32 array index in a kernel key.
fn index_of(key: &[u8]) -> u32 {
    let mut bytes = [0u8; 4];
    let n = key.len().min(4);
    bytes[..n].copy_from_slice(&key[..n]);
    u32::from_le_bytes(bytes)
}

fn all_zero(values: &[Vec<u8>]) -> bool {
    values.iter().all(|v| v.iter().all(|&b| b == 0))
}

fn u64_at(bytes: &[u8], off: u32) -> u64 {
    let off = off as usize;
    bytes
        .get(off..off + 8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// Whether a keyless aggregation has recorded anything on any CPU: a non-zero
/// count, a set min/max flag, a non-zero event count for sum/avg/stats.
fn is_set(value_type: &Type, values: &[Vec<u8>]) -> bool {
    match value_type {
        // bpftrace 0.17 prints a keyless count() even before it counted: `@c: 0`.
        Type::Count => true,
        Type::Min | Type::Max => values.iter().any(|v| u64_at(v, MINMAX_VALID) != 0),
        Type::Sum | Type::Avg | Type::Stats => values.iter().any(|v| u64_at(v, AGG_COUNT) != 0),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: MapKind, key_type: Type, value_type: Type, key_size: u32) -> MapSpec {
        MapSpec {
            name: "@x".into(),
            kind,
            key_size,
            value_size: value_type.size(),
            max_entries: 4,
            key_type,
            value_type,
        }
    }

    #[test]
    fn keyless_keys_are_index_zero() {
        let s = spec(MapKind::PerCpuArray, Type::None, Type::Count, 4);
        assert_eq!(kernel_key(&s, None), vec![0, 0, 0, 0]);
        assert_eq!(kernel_key(&s, Some(&[3, 0, 0, 0])), vec![3, 0, 0, 0]);
    }

    #[test]
    fn set_aggregations_are_recognised() {
        let zero16 = vec![0u8; 16];
        let mut valid = vec![0u8; 16];
        valid[8] = 1;
        assert!(!is_set(&Type::Max, &[zero16.clone(), zero16.clone()]));
        assert!(is_set(&Type::Max, &[zero16.clone(), valid.clone()]));
        assert!(is_set(&Type::Avg, &[valid]));
        // bpftrace 0.17 prints a keyless count that never counted as `@c: 0`.
        assert!(is_set(&Type::Count, &[vec![0; 8]]));
        assert!(is_set(&Type::Count, &[vec![1, 0, 0, 0, 0, 0, 0, 0]]));
        assert!(!is_set(&Type::Sum, &[zero16]));
    }

    #[test]
    fn histogram_user_keys_are_recognised_by_length() {
        let s = spec(MapKind::PerCpuHash, Type::U64, Type::Hist, 16);
        assert!(is_histogram_user_key(&s, &[0; 8]));
        assert!(!is_histogram_user_key(&s, &[0; 16]));
    }
}
