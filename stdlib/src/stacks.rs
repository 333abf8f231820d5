//! `kstack` and `ustack`: their type, their stored layout and how they print.
//!
//! A stack is stored (in map keys, values and event records) as the id that
//! `bpf_get_stackid` returned for it in the stack map of its kind and depth;
//! a user stack also stores the pid, because user addresses only mean
//! something in their process:
//! - kstack: `[stack id (i64)]`, 8 bytes;
//! - ustack: `[stack id (i64), pid (u64)]`, 16 bytes.
//!
//! A negative id (the helper failed, e.g. no user stack in a kernel thread)
//! prints as an empty stack, as bpftrace 0.17 does (`@[]: 3`).

use std::fmt;

/// The deepest stack the kernel records (`PERF_MAX_STACK_DEPTH` default).
pub const MAX_STACK_DEPTH: u32 = 127;

/// How the frames of a stack print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StackMode {
    /// `    vfs_read+187` (the default).
    Bpftrace,
    /// `\tffffffff816b8aab vfs_read+187`, and ` (/path)` for user frames.
    Perf,
    /// `    ffffffff816b8aab`: addresses only.
    Raw,
}

impl StackMode {
    pub fn from_name(name: &str) -> Option<StackMode> {
        match name {
            "bpftrace" => Some(StackMode::Bpftrace),
            "perf" => Some(StackMode::Perf),
            "raw" => Some(StackMode::Raw),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StackMode::Bpftrace => "bpftrace",
            StackMode::Perf => "perf",
            StackMode::Raw => "raw",
        }
    }
}

/// The type of a `kstack` / `ustack` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StackType {
    /// `ustack` (user addresses, stored with the pid) rather than `kstack`.
    pub user: bool,
    pub mode: StackMode,
    /// At most this many frames are kept (1 to [`MAX_STACK_DEPTH`]).
    pub limit: u32,
}

impl StackType {
    /// Bytes of the stored value (see the module comment).
    pub fn size(&self) -> u32 {
        if self.user {
            16
        } else {
            8
        }
    }

    /// The internal name of the BPF stack map holding stacks of this kind and depth.
    pub fn map_name(&self) -> String {
        stack_map_name(self.user, self.limit)
    }
}

/// `.kstack127`, `.ustack3`: one stack map per (kind, depth).
pub fn stack_map_name(user: bool, limit: u32) -> String {
    format!(".{}stack{limit}", if user { "u" } else { "k" })
}

impl fmt::Display for StackType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", if self.user { "ustack" } else { "kstack" })
    }
}

/// A stored stack, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackValue {
    pub ty: StackType,
    /// The stack map id; negative when the kernel could not take the stack.
    pub id: i64,
    /// The process of a user stack (0 for kernel stacks).
    pub pid: u32,
}

impl StackValue {
    pub fn decode(ty: StackType, bytes: &[u8]) -> StackValue {
        let word = |off: usize| {
            let mut buf = [0u8; 8];
            if let Some(src) = bytes.get(off..off + 8) {
                buf.copy_from_slice(src);
            }
            u64::from_le_bytes(buf)
        };
        StackValue {
            ty,
            id: word(0) as i64,
            pid: if ty.user { word(8) as u32 } else { 0 },
        }
    }
}

/// What a frame address resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameSymbol {
    pub name: String,
    /// Distance from the symbol's start.
    pub offset: u64,
    /// The file the address lies in (user frames; printed in perf mode).
    pub module: Option<String>,
}

/// Formats the frames of one stack, each on its own line after `indent`
/// spaces (a tab in perf mode), the whole starting with a newline; an empty
/// stack is empty text. `symbol` resolves one frame address.
pub fn format_frames(
    ty: &StackType,
    frames: &[u64],
    indent: usize,
    symbol: &dyn Fn(u64) -> Option<FrameSymbol>,
) -> String {
    let resolved: Vec<(u64, Option<FrameSymbol>)> = frames
        .iter()
        .take(ty.limit as usize)
        .map(|&addr| {
            let wanted = ty.mode != StackMode::Raw;
            (addr, if wanted { symbol(addr) } else { None })
        })
        .collect();
    format_resolved_frames(ty, &resolved, indent)
}

/// [`format_frames`] for frames already paired with their symbols.
pub fn format_resolved_frames(
    ty: &StackType,
    frames: &[(u64, Option<FrameSymbol>)],
    indent: usize,
) -> String {
    if frames.is_empty() {
        return String::new();
    }
    let pad = " ".repeat(indent);
    let mut out = String::from("\n");
    for (addr, sym) in frames.iter().take(ty.limit as usize) {
        let addr = *addr;
        let line = match ty.mode {
            StackMode::Raw => format!("{pad}{addr:x}"),
            StackMode::Bpftrace => match sym {
                Some(s) => format!("{pad}{}+{}", s.name, s.offset),
                None => format!("{pad}0x{addr:x}"),
            },
            StackMode::Perf => perf_line(ty.user, addr, sym.clone()),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `\taddr sym+off`, plus ` (file)` for user frames (`([unknown])` when the
/// address is in no known file).
fn perf_line(user: bool, addr: u64, sym: Option<FrameSymbol>) -> String {
    let (text, module) = match sym {
        Some(s) => (format!("{}+{}", s.name, s.offset), s.module),
        None => (format!("0x{addr:x}"), None),
    };
    if !user {
        return format!("\t{addr:x} {text}");
    }
    let module = module.unwrap_or_else(|| "[unknown]".to_string());
    format!("\t{addr:x} {text} ({module})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(addr: u64) -> Option<FrameSymbol> {
        (addr >= 0x1000).then(|| FrameSymbol {
            name: "f".into(),
            offset: addr - 0x1000,
            module: Some("/bin/x".into()),
        })
    }

    fn ty(user: bool, mode: StackMode, limit: u32) -> StackType {
        StackType { user, mode, limit }
    }

    #[test]
    fn bpftrace_mode_indents_and_falls_back_to_hex() {
        let t = ty(false, StackMode::Bpftrace, 127);
        assert_eq!(
            format_frames(&t, &[0x1010, 0x20], 4, &sym),
            "\n    f+16\n    0x20\n"
        );
        assert_eq!(format_frames(&t, &[], 4, &sym), "");
    }

    #[test]
    fn perf_and_raw_modes() {
        let k = ty(false, StackMode::Perf, 127);
        assert_eq!(format_frames(&k, &[0x1001], 8, &sym), "\n\t1001 f+1\n");
        let u = ty(true, StackMode::Perf, 127);
        assert_eq!(
            format_frames(&u, &[0x1001, 0x5], 8, &sym),
            "\n\t1001 f+1 (/bin/x)\n\t5 0x5 ([unknown])\n"
        );
        let r = ty(true, StackMode::Raw, 1);
        assert_eq!(format_frames(&r, &[0x1001, 0x5], 4, &sym), "\n    1001\n");
    }

    #[test]
    fn decode_reads_id_and_pid() {
        let mut bytes = (-14i64).to_le_bytes().to_vec();
        bytes.extend_from_slice(&77u64.to_le_bytes());
        let v = StackValue::decode(ty(true, StackMode::Bpftrace, 5), &bytes);
        assert_eq!((v.id, v.pid), (-14, 77));
        assert_eq!(ty(true, StackMode::Raw, 5).map_name(), ".ustack5");
    }
}
