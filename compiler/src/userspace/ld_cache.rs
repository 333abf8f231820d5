//! Library short names (`libc`, `pthread`) resolved the way the dynamic loader
//! finds them: through `/etc/ld.so.cache`, read directly, or `ldconfig -p` when
//! the cache has a format this reader does not know.

use std::path::PathBuf;
use std::process::Command;

const CACHE_PATH: &str = "/etc/ld.so.cache";
/// Magic of the glibc ≥ 2.32 cache format (also embedded after the old format).
const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const HEADER_SIZE: usize = 48;
const ENTRY_SIZE: usize = 24;
/// `FLAG_ELF_LIBC6 | FLAG_X8664_LIB64`: the entries a 64-bit x86 process loads.
const X86_64_LIBC6: u32 = 0x0303;

/// One cache entry: the soname (`libc.so.6`) and where the file is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedLibrary {
    pub soname: String,
    pub path: PathBuf,
}

/// Every x86-64 library the loader knows, in cache order (its search priority).
pub fn libraries() -> Vec<CachedLibrary> {
    match std::fs::read(CACHE_PATH) {
        Ok(bytes) => parse_cache(&bytes).unwrap_or_else(ldconfig_list),
        Err(_) => ldconfig_list(),
    }
}

/// The file a short library name stands for: `libc`, `c` and `libc.so` all give
/// the path of `libc.so.6`.
pub fn find_library(name: &str) -> Option<PathBuf> {
    find_in(&libraries(), name)
}

/// The soname prefixes a short name may stand for.
pub fn candidates(name: &str) -> Vec<String> {
    let base = name.trim_end_matches(".so");
    if base.starts_with("lib") {
        vec![format!("{base}.so")]
    } else {
        vec![format!("lib{base}.so"), format!("{base}.so")]
    }
}

fn find_in(libs: &[CachedLibrary], name: &str) -> Option<PathBuf> {
    let wanted = candidates(name);
    let matches = |soname: &str, prefix: &str| {
        soname == prefix
            || soname
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.'))
    };
    // An exact soname first, then versioned ones (`libc.so.6`).
    if let Some(l) = libs.iter().find(|l| l.soname == name) {
        return Some(l.path.clone());
    }
    wanted.iter().find_map(|prefix| {
        libs.iter()
            .find(|l| matches(&l.soname, prefix))
            .map(|l| l.path.clone())
    })
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn c_string_at(bytes: &[u8], at: usize) -> Option<String> {
    let tail = bytes.get(at..)?;
    let end = tail.iter().position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(&tail[..end]).into_owned())
}

/// Parse the new-format cache (possibly after an old-format prefix). String
/// offsets in the new format count from the start of the new header.
pub fn parse_cache(bytes: &[u8]) -> Option<Vec<CachedLibrary>> {
    let start = bytes
        .windows(NEW_MAGIC.len())
        .position(|w| w == NEW_MAGIC)?;
    let data = &bytes[start..];
    let count = u32_at(data, NEW_MAGIC.len())? as usize;
    let mut libs = Vec::with_capacity(count);
    for i in 0..count {
        let at = HEADER_SIZE + i * ENTRY_SIZE;
        let flags = u32_at(data, at)?;
        if flags != X86_64_LIBC6 {
            continue;
        }
        let soname = c_string_at(data, u32_at(data, at + 4)? as usize)?;
        let path = c_string_at(data, u32_at(data, at + 8)? as usize)?;
        libs.push(CachedLibrary {
            soname,
            path: PathBuf::from(path),
        });
    }
    Some(libs)
}

/// `ldconfig -p` lines look like `\tlibc.so.6 (libc6,x86-64) => /lib/…/libc.so.6`.
fn ldconfig_list() -> Vec<CachedLibrary> {
    let Ok(out) = Command::new("ldconfig").arg("-p").output() else {
        return Vec::new();
    };
    parse_ldconfig(&String::from_utf8_lossy(&out.stdout))
}

pub fn parse_ldconfig(text: &str) -> Vec<CachedLibrary> {
    text.lines()
        .filter(|l| l.contains("x86-64"))
        .filter_map(|l| {
            let (left, path) = l.split_once(" => ")?;
            let soname = left.split_whitespace().next()?;
            Some(CachedLibrary {
                soname: soname.to_string(),
                path: PathBuf::from(path.trim()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_find_libc_like_the_loader() {
        let libs = libraries();
        let from_ldconfig = ldconfig_list();
        assert!(!libs.is_empty(), "the ld.so.cache parser found nothing");
        assert_eq!(libs, from_ldconfig, "cache parser and ldconfig -p disagree");
        let libc = find_library("libc").expect("libc is in the cache");
        assert!(libc.to_string_lossy().ends_with("/libc.so.6"), "{libc:?}");
        assert_eq!(find_library("c"), Some(libc.clone()));
        assert_eq!(find_library("libc.so.6"), Some(libc));
        assert_eq!(find_library("no_such_library_xyz"), None);
    }

    #[test]
    fn ldconfig_lines_parse() {
        let text = "2 libs found\n\tlibz.so.1 (libc6,x86-64) => /lib/libz.so.1\n\
                    \tlibz.so.1 (libc6) => /lib32/libz.so.1\n";
        let libs = parse_ldconfig(text);
        assert_eq!(libs.len(), 1);
        assert_eq!(libs[0].soname, "libz.so.1");
        assert_eq!(find_in(&libs, "z"), Some(PathBuf::from("/lib/libz.so.1")));
    }
}
