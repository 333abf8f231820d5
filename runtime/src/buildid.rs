//! Build ids: the `NT_GNU_BUILD_ID` note of an ELF file, the frames of a
//! stack map created with `BPF_F_STACK_BUILD_ID`, and an index from build id
//! to a file that has it.
//!
//! The kernel records a user frame as (build id of the mapped file, file
//! offset) at event time, so a frame names its code even after the process
//! that ran it is gone — provided user space can find a file with that build
//! id: the probed binaries, and every file mapped by a process rtrace saw.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Bytes of a build id in a `struct bpf_stack_build_id`.
pub const BUILD_ID_SIZE: usize = 20;
/// Bytes of one `struct bpf_stack_build_id`.
const FRAME_SIZE: usize = 32;
/// `BPF_STACK_BUILD_ID_VALID`: build id and file offset are set.
const STATUS_VALID: i32 = 1;
/// `BPF_STACK_BUILD_ID_IP`: the kernel found no build id; the address is set.
const STATUS_IP: i32 = 2;

/// One user frame as the kernel recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildIdFrame {
    /// Code at `offset` in the file whose build id is `id`.
    File {
        id: [u8; BUILD_ID_SIZE],
        offset: u64,
    },
    /// Only the address is known (no build id in the mapped file, or the
    /// kernel could not look at the mapping).
    Ip(u64),
}

/// The frames of one stack-map value, up to the first empty one.
pub fn decode_frames(bytes: &[u8]) -> Vec<BuildIdFrame> {
    bytes
        .chunks_exact(FRAME_SIZE)
        .map_while(|c| {
            let status = i32::from_le_bytes(c[0..4].try_into().ok()?);
            let word = u64::from_le_bytes(c[24..32].try_into().ok()?);
            match status {
                STATUS_VALID => Some(BuildIdFrame::File {
                    id: c[4..4 + BUILD_ID_SIZE].try_into().ok()?,
                    offset: word,
                }),
                STATUS_IP => Some(BuildIdFrame::Ip(word)),
                _ => None, // BPF_STACK_BUILD_ID_EMPTY: the end of the stack
            }
        })
        .collect()
}

/// The build id of the ELF file at `path`, as the kernel reads it: the
/// first `NT_GNU_BUILD_ID` note of a `PT_NOTE` segment, padded with zeros to
/// [`BUILD_ID_SIZE`] bytes (longer ids are cut there, as the kernel does).
pub fn read_build_id(path: &Path) -> Option<[u8; BUILD_ID_SIZE]> {
    let mut file = File::open(path).ok()?;
    let mut header = [0u8; 64];
    file.read_exact(&mut header).ok()?;
    // 64-bit little-endian ELF only: what x86-64 and arm64 user space use.
    if &header[0..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return None;
    }
    let phoff = u64::from_le_bytes(header[32..40].try_into().ok()?);
    let phentsize = u16::from_le_bytes(header[54..56].try_into().ok()?) as usize;
    let phnum = u16::from_le_bytes(header[56..58].try_into().ok()?) as usize;
    if phentsize < 56 || phnum > 256 {
        return None;
    }
    let mut table = vec![0u8; phentsize * phnum];
    file.seek(SeekFrom::Start(phoff)).ok()?;
    file.read_exact(&mut table).ok()?;
    for ph in table.chunks_exact(phentsize) {
        const PT_NOTE: u32 = 4;
        if u32::from_le_bytes(ph[0..4].try_into().ok()?) != PT_NOTE {
            continue;
        }
        let offset = u64::from_le_bytes(ph[8..16].try_into().ok()?);
        let size = u64::from_le_bytes(ph[32..40].try_into().ok()?).min(1 << 16);
        let mut notes = vec![0u8; size as usize];
        file.seek(SeekFrom::Start(offset)).ok()?;
        if file.read_exact(&mut notes).is_err() {
            continue;
        }
        if let Some(id) = gnu_build_id(&notes) {
            return Some(id);
        }
    }
    None
}

/// The `NT_GNU_BUILD_ID` descriptor among the notes of one segment.
fn gnu_build_id(mut notes: &[u8]) -> Option<[u8; BUILD_ID_SIZE]> {
    const NT_GNU_BUILD_ID: u32 = 3;
    let align4 = |n: usize| (n + 3) & !3;
    while notes.len() >= 12 {
        let namesz = u32::from_le_bytes(notes[0..4].try_into().ok()?) as usize;
        let descsz = u32::from_le_bytes(notes[4..8].try_into().ok()?) as usize;
        let kind = u32::from_le_bytes(notes[8..12].try_into().ok()?);
        let name_end = 12 + align4(namesz);
        let desc_end = name_end.checked_add(align4(descsz))?;
        if desc_end > notes.len() {
            return None;
        }
        if kind == NT_GNU_BUILD_ID && &notes[12..12 + namesz] == b"GNU\0" && descsz > 0 {
            let desc = &notes[name_end..name_end + descsz];
            let mut id = [0u8; BUILD_ID_SIZE];
            let n = desc.len().min(BUILD_ID_SIZE);
            id[..n].copy_from_slice(&desc[..n]);
            return Some(id);
        }
        notes = &notes[desc_end..];
    }
    None
}

/// Build id → a path of a file with it.
#[derive(Debug, Default)]
pub struct BuildIdIndex {
    paths: HashMap<[u8; BUILD_ID_SIZE], String>,
    /// Paths already looked at (with or without a build id).
    seen: HashSet<String>,
}

impl BuildIdIndex {
    /// Remember that `path` has build id `id`.
    pub fn insert(&mut self, id: [u8; BUILD_ID_SIZE], path: &str) {
        self.seen.insert(path.to_string());
        self.paths.entry(id).or_insert_with(|| path.to_string());
    }

    /// Read the build id of `path` (once per path) and index it.
    pub fn add_file(&mut self, path: &str) {
        if !self.seen.insert(path.to_string()) {
            return;
        }
        if let Some(id) = read_build_id(Path::new(path)) {
            self.paths.entry(id).or_insert_with(|| path.to_string());
        }
    }

    /// Index every file mapped by a live process.
    pub fn add_live_processes(&mut self) {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
                continue;
            };
            for path in mapped_files(&maps) {
                self.add_file(path);
            }
        }
    }

    pub fn path(&self, id: &[u8; BUILD_ID_SIZE]) -> Option<&str> {
        self.paths.get(id).map(String::as_str)
    }
}

/// The distinct file paths of a `/proc/PID/maps` text.
fn mapped_files(maps: &str) -> HashSet<&str> {
    maps.lines()
        .filter_map(|line| {
            let path = line.splitn(6, char::is_whitespace).nth(5)?.trim_start();
            (path.starts_with('/') && !path.ends_with(" (deleted)")).then_some(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_decode_until_the_first_empty_one() {
        let mut bytes = vec![0u8; 4 * FRAME_SIZE];
        bytes[0] = 1;
        bytes[4..24].copy_from_slice(&[7u8; 20]);
        bytes[24..32].copy_from_slice(&0x1234u64.to_le_bytes());
        bytes[32] = 2;
        bytes[56..64].copy_from_slice(&0x7f00u64.to_le_bytes());
        // frame 2 empty; frame 3 must not be read
        bytes[96] = 1;
        assert_eq!(
            decode_frames(&bytes),
            [
                BuildIdFrame::File {
                    id: [7; 20],
                    offset: 0x1234
                },
                BuildIdFrame::Ip(0x7f00)
            ]
        );
    }

    #[test]
    fn own_executable_build_id_matches_its_note() {
        // The test binary is linked (by cc) with a GNU build id note: compare
        // with what `readelf -n` shows.
        let exe = std::env::current_exe().unwrap();
        let id = read_build_id(&exe).expect("the test binary has a build id");
        let out = std::process::Command::new("readelf")
            .arg("-n")
            .arg(&exe)
            .output()
            .expect("readelf runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let hex: String = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Build ID: "))
            .expect("readelf shows the build id")
            .to_string();
        let ours: String = id.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(ours, format!("{hex:0<40}"));
    }

    #[test]
    fn index_finds_libc_of_a_live_process() {
        let mut index = BuildIdIndex::default();
        index.add_live_processes();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let libc = mapped_files(&maps)
            .into_iter()
            .find(|p| p.contains("libc.so"))
            .expect("tests link libc");
        let id = read_build_id(Path::new(libc)).expect("Debian's libc has a build id");
        let found = index.path(&id).expect("indexed");
        assert_eq!(read_build_id(Path::new(found)), Some(id));
    }
}
