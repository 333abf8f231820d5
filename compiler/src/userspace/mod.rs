//! User-space probe targets: finding the binary a uprobe or USDT probe names,
//! and reading what the probes need from it (symbols, segments, USDT notes).

pub mod elf_info;
pub mod ld_cache;
pub mod usdt;

use elf_info::ElfInfo;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The file a uprobe's binary part names: a path (used as given), a program
/// found in `$PATH` (`bash`), or a library short name (`libc`) found first in
/// the maps of `pid` when given, then in the dynamic loader's cache.
pub fn resolve_binary(name: &str, pid: Option<i32>) -> Result<PathBuf, String> {
    if name.contains('/') {
        // Relative paths are made absolute: probe names should not depend on the cwd.
        let path = std::path::absolute(name).unwrap_or_else(|_| PathBuf::from(name));
        return if path.exists() {
            Ok(path)
        } else {
            Err(format!("{name} does not exist"))
        };
    }
    if let Some(path) = pid.and_then(|p| library_in_process(p, name)) {
        return Ok(path);
    }
    if let Some(path) = in_search_path(name) {
        return Ok(path);
    }
    ld_cache::find_library(name).ok_or_else(|| {
        format!(
            "cannot find `{name}`: it is not a path, not a program in $PATH and not a library \
             the dynamic loader knows (ldconfig -p)"
        )
    })
}

/// An executable regular file named `name` in one of `$PATH`'s directories.
fn in_search_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// A library mapped by process `pid` whose file name fits the short name.
fn library_in_process(pid: i32, name: &str) -> Option<PathBuf> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let prefixes = ld_cache::candidates(name);
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|path| {
            let file = path.rsplit('/').next().unwrap_or(path);
            file == name
                || prefixes.iter().any(|p| {
                    file == p
                        || file
                            .strip_prefix(p.as_str())
                            .is_some_and(|r| r.starts_with('.'))
                })
        })
        .map(PathBuf::from)
}

/// The executable of a running process (for `usdt:probe` with `-p`).
pub fn process_binary(pid: i32) -> Result<PathBuf, String> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map_err(|e| format!("cannot find the executable of process {pid}: {e}"))
}

/// Read (once per process) the ELF facts of `path`.
pub fn elf_info(path: &Path) -> Result<Arc<ElfInfo>, String> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Arc<ElfInfo>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(info) = cache.lock().unwrap().get(path) {
        return Ok(info.clone());
    }
    let info = Arc::new(ElfInfo::read(path)?);
    cache
        .lock()
        .unwrap()
        .insert(path.to_path_buf(), info.clone());
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_like_bpftrace() {
        let bash = resolve_binary("bash", None).unwrap();
        assert!(bash.ends_with("bash"), "{bash:?}");
        let libc = resolve_binary("libc", None).unwrap();
        assert!(libc.to_string_lossy().contains("libc.so"));
        // Our own process maps libc: the pid lookup finds the mapped file.
        let mapped = resolve_binary("libc", Some(std::process::id() as i32)).unwrap();
        assert!(mapped.to_string_lossy().contains("libc.so"), "{mapped:?}");
        assert!(resolve_binary("/no/such/file", None).is_err());
        assert!(resolve_binary("no_such_thing_at_all", None).is_err());
    }
}
