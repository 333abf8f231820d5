//! Symbolising addresses: kernel symbols from `/proc/kallsyms`, and the
//! [`Resolver`] the printers take so tests (and the runtime) can supply their own.
//!
//! Lookup follows bpftrace 0.17 (which uses bcc's symbol cache): only text
//! symbols (types other than `b B d D r R`) are kept, an address resolves to the
//! last symbol at or below it however far away it is, and an address below every
//! symbol prints as `0x…` hex.

use crate::stacks::{format_frames, format_resolved_frames, FrameSymbol, StackValue};
use std::sync::OnceLock;

/// Turns addresses and probe ids into the names the output shows.
pub trait Resolver {
    /// The kernel symbol containing `addr` (`ksym()`), or `0x…` hex.
    fn ksym(&self, addr: u64) -> String;
    /// The user symbol containing `addr` in process `pid` (`usym()`), or `0x…` hex.
    /// `Usym` values carry the pid they were taken in; `None` means unknown.
    fn usym(&self, addr: u64, pid: Option<u32>) -> String;
    /// `ksymoff(addr)`: `symbol+0xoff/0xsize [module]` of the running kernel.
    fn ksymoff(&self, addr: u64) -> String {
        ksymoff(addr)
    }
    /// The full name of probe number `id` (the `probe` builtin).
    fn probe_name(&self, id: u64) -> String;
    /// The frame addresses of a stored `kstack`/`ustack` (empty when unknown).
    fn stack_frames(&self, _stack: &StackValue) -> Vec<u64> {
        Vec::new()
    }
    /// The symbol of a kernel stack frame.
    fn kernel_frame(&self, addr: u64) -> Option<FrameSymbol> {
        KernelSymbols::kernel().frame(addr)
    }
    /// The symbol of a user stack frame of process `pid`.
    fn user_frame(&self, _addr: u64, _pid: u32) -> Option<FrameSymbol> {
        None
    }
    /// The frames of a stored `ustack`, each with the address to print and
    /// its symbol, when the resolver knows them as a whole (frames recorded
    /// by build id); `None` uses `stack_frames` and `user_frame`.
    fn user_stack(&self, _stack: &StackValue) -> Option<Vec<(u64, Option<FrameSymbol>)>> {
        None
    }
}

/// A stack's text: its frames after `indent` spaces, one per line, starting
/// with a newline (4 spaces in map keys, 8 elsewhere, as bpftrace 0.17 prints).
pub fn stack_text(resolver: &dyn Resolver, stack: &StackValue, indent: usize) -> String {
    if stack.id < 0 {
        return String::new();
    }
    if stack.ty.user {
        if let Some(frames) = resolver.user_stack(stack) {
            return format_resolved_frames(&stack.ty, &frames, indent);
        }
    }
    let frames = resolver.stack_frames(stack);
    let symbol = |addr: u64| {
        if stack.ty.user {
            resolver.user_frame(addr, stack.pid)
        } else {
            resolver.kernel_frame(addr)
        }
    };
    format_frames(&stack.ty, &frames, indent, &symbol)
}

/// `0x` followed by lowercase hex: how unresolved addresses print.
pub fn hex_addr(addr: u64) -> String {
    format!("0x{addr:x}")
}

/// One symbol found by [`KernelSymbols::lookup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symbol<'a> {
    pub name: &'a str,
    pub addr: u64,
    /// Distance to the next symbol of the same owner; `None` for the last one.
    pub size: Option<u64>,
    /// `None` for the kernel image, `Some(module)` for module symbols.
    pub module: Option<&'a str>,
}

/// An entry of the table; the name is a range of the kallsyms text, so loading
/// 200k symbols costs no per-symbol allocation.
#[derive(Clone, Copy, Debug)]
struct Entry {
    addr: u64,
    name_start: u32,
    name_len: u32,
    /// Index into `KernelSymbols::modules`; 0 is the kernel image.
    module: u32,
}

/// A sorted table of kernel text symbols.
#[derive(Debug, Default)]
pub struct KernelSymbols {
    /// The kallsyms text the names point into.
    text: String,
    entries: Vec<Entry>,
    /// Module names as text ranges; entry 0 (the kernel) is unused.
    modules: Vec<(u32, u32)>,
}

impl KernelSymbols {
    /// Parses text in `/proc/kallsyms` format (`addr type name\t[module]` lines).
    pub fn parse(text: String) -> KernelSymbols {
        let mut table = KernelSymbols {
            text: String::new(),
            entries: Vec::with_capacity(text.len() / 40),
            modules: vec![(0, 0)],
        };
        table.parse_lines(text.as_bytes());
        // Stable, so the last of several symbols at one address wins (as in bcc).
        table.entries.sort_by_key(|e| e.addr);
        table.text = text;
        table
    }

    /// Reads and parses `/proc/kallsyms`.
    ///
    /// The kernel generates kallsyms 4 KiB per read and that is most of the cost
    /// (~25 ms for 120k symbols here); the parse is a few ms. Reading in a second
    /// thread does not help on this 2-vCPU VM: a busy sibling slows the reads.
    pub fn load() -> std::io::Result<KernelSymbols> {
        use std::io::Read;
        let mut buf = Vec::with_capacity(8 << 20);
        std::fs::File::open("/proc/kallsyms")?.read_to_end(&mut buf)?;
        let text = String::from_utf8(buf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        Ok(KernelSymbols::parse(text))
    }

    /// The process-wide table, loaded on first use (empty if kallsyms is unreadable).
    pub fn kernel() -> &'static KernelSymbols {
        static KERNEL: OnceLock<KernelSymbols> = OnceLock::new();
        KERNEL.get_or_init(|| KernelSymbols::load().unwrap_or_default())
    }

    /// Number of symbols kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The last symbol at or below `addr`.
    pub fn lookup(&self, addr: u64) -> Option<Symbol<'_>> {
        let idx = self.entries.partition_point(|e| e.addr <= addr);
        let entry = self.entries.get(idx.checked_sub(1)?)?;
        let size = self
            .entries
            .get(idx)
            .filter(|next| next.module == entry.module)
            .map(|next| next.addr - entry.addr);
        let module = self.modules.get(entry.module as usize).copied();
        Some(Symbol {
            name: self.slice(entry.name_start, entry.name_len),
            addr: entry.addr,
            size,
            module: module
                .filter(|_| entry.module > 0)
                .map(|(s, l)| self.slice(s, l)),
        })
    }

    /// `ksym(addr)`: the symbol name, or `0x…` when no symbol lies at or below.
    pub fn ksym(&self, addr: u64) -> String {
        match self.lookup(addr) {
            Some(sym) => sym.name.to_string(),
            None => hex_addr(addr),
        }
    }

    /// `name+0xoff/0xsize [owner]`, e.g. `tcp_v4_rcv+0xaa/0x8d0 [kernel]`.
    ///
    /// The size runs to the next symbol, so a following function's `__pfx_`
    /// padding symbol ends it: padding is never counted in the function before
    /// it (the kernel's own `%pB` rule). `/0xsize` is left out for the last
    /// symbol of an owner, whose end is unknown.
    pub fn ksymoff(&self, addr: u64) -> String {
        let Some(sym) = self.lookup(addr) else {
            return hex_addr(addr);
        };
        let size = sym.size.map(|s| format!("/{s:#x}")).unwrap_or_default();
        let owner = sym.module.unwrap_or("kernel");
        format!("{}+{:#x}{size} [{owner}]", sym.name, addr - sym.addr)
    }

    /// A stack frame's symbol and offset.
    pub fn frame(&self, addr: u64) -> Option<FrameSymbol> {
        self.lookup(addr).map(|sym| FrameSymbol {
            name: sym.name.to_string(),
            offset: addr - sym.addr,
            module: sym.module.map(str::to_string),
        })
    }

    /// Address of the first text symbol called `name` (a linear scan).
    pub fn address_of(&self, name: &str) -> Option<u64> {
        self.entries
            .iter()
            .find(|e| self.slice(e.name_start, e.name_len) == name)
            .map(|e| e.addr)
    }

    fn slice(&self, start: u32, len: u32) -> &str {
        self.text
            .get(start as usize..(start + len) as usize)
            .unwrap_or("")
    }

    /// Parses every line of `text` in one pass (the table's `text` is set after).
    fn parse_lines(&mut self, text: &[u8]) {
        let mut start = 0;
        while start < text.len() {
            let end = start + find_byte(&text[start..], b'\n').unwrap_or(text.len() - start);
            self.parse_line(text, start, end);
            start = end + 1;
        }
    }

    /// Parses `ffffffff820938b0 T tcp_v4_rcv\t[module]` (bytes `start..end` of
    /// `text`). Data symbols and zero addresses (hidden by kptr_restrict) are skipped.
    fn parse_line(&mut self, text: &[u8], start: usize, end: usize) {
        let line = &text[start..end];
        let Some((addr, digits)) = parse_address(line) else {
            return;
        };
        let (Some(b' '), Some(&kind), Some(b' ')) =
            (line.get(digits), line.get(digits + 1), line.get(digits + 2))
        else {
            return;
        };
        if addr == 0 || matches!(kind, b'b' | b'B' | b'd' | b'D' | b'r' | b'R') {
            return;
        }
        let name_start = digits + 3;
        let rest = &line[name_start..];
        let (name_len, module) = match find_byte(rest, b'\t') {
            Some(tab) => (
                tab,
                self.module_index(text, start + name_start + tab + 1, end),
            ),
            None => (rest.len(), 0),
        };
        if name_len == 0 {
            return;
        }
        self.entries.push(Entry {
            addr,
            name_start: (start + name_start) as u32,
            name_len: name_len as u32,
            module,
        });
    }

    /// Index of the module named by `text[start..end]` (`[name]`), adding it if
    /// new. Module symbols come grouped, so only the last module is compared.
    fn module_index(&mut self, text: &[u8], start: usize, end: usize) -> u32 {
        let field = &text[start..end];
        let inner = field.strip_prefix(b"[").unwrap_or(field);
        let inner = inner.strip_suffix(b"]").unwrap_or(inner);
        let offset = start + usize::from(field.first() == Some(&b'['));
        let last = self.modules.len() - 1;
        let (s, l) = self.modules[last];
        if last > 0 && &text[s as usize..(s + l) as usize] == inner {
            return last as u32;
        }
        self.modules.push((offset as u32, inner.len() as u32));
        last as u32 + 1
    }
}

/// `ksym()` against the running kernel.
pub fn ksym(addr: u64) -> String {
    KernelSymbols::kernel().ksym(addr)
}

/// `name+0xoff/0xsize [owner]` against the running kernel.
pub fn ksymoff(addr: u64) -> String {
    KernelSymbols::kernel().ksymoff(addr)
}

/// The resolver of a real run: kernel symbols from kallsyms (loaded only when a
/// kernel address is first printed), user addresses in hex, probe names by index.
#[derive(Clone, Debug, Default)]
pub struct SystemResolver {
    /// Full probe names, indexed by the `probe` builtin's id.
    pub probes: Vec<String>,
}

impl Resolver for SystemResolver {
    fn ksym(&self, addr: u64) -> String {
        ksym(addr)
    }

    fn usym(&self, addr: u64, _pid: Option<u32>) -> String {
        hex_addr(addr)
    }

    fn probe_name(&self, id: u64) -> String {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.probes.get(i))
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

/// The leading hex address of a kallsyms line and how many digits it had.
/// The usual 16 digits take a branch-free path (this loop dominated the parse).
fn parse_address(line: &[u8]) -> Option<(u64, usize)> {
    if let (Some(hi), Some(lo), Some(b' ')) = (line.get(..8), line.get(8..16), line.get(16)) {
        let hi = hex8(hi.try_into().unwrap_or_default());
        let lo = hex8(lo.try_into().unwrap_or_default());
        if let (Some(hi), Some(lo)) = (hi, lo) {
            return Some((u64::from(hi) << 32 | u64::from(lo), 16));
        }
    }
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let text = std::str::from_utf8(&line[..digits]).ok()?;
    Some((u64::from_str_radix(text, 16).ok()?, digits))
}

/// Eight ASCII hex digits to their value, eight bytes at a time; `None` if any
/// byte is not a hex digit.
fn hex8(digits: [u8; 8]) -> Option<u32> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let raw = u64::from_be_bytes(digits);
    if raw & HIGH != 0 {
        return None;
    }
    // Folding case maps 'A'-'F' (and only them) onto 'a'-'f'; digits keep their value.
    let folded = raw | 0x2020_2020_2020_2020;
    // High bit of each byte set iff lo <= byte <= hi (bytes are < 0x80: no carries).
    let in_range = |word: u64, lo: u8, hi: u8| {
        let at_least_lo = (word + LOW * u64::from(0x80 - lo)) & HIGH;
        let above_hi = (word + LOW * u64::from(0x7f - hi)) & HIGH;
        at_least_lo & !above_hi
    };
    if in_range(raw, b'0', b'9') | in_range(folded, b'a', b'f') != HIGH {
        return None;
    }
    let letters = (folded >> 6) & LOW;
    let mut v = (folded & 0x0f0f_0f0f_0f0f_0f0f) + letters * 9;
    v = (v | (v >> 4)) & 0x00ff_00ff_00ff_00ff;
    v = (v | (v >> 8)) & 0x0000_ffff_0000_ffff;
    v = (v | (v >> 16)) & 0x0000_0000_ffff_ffff;
    Some(v as u32)
}

/// Position of the first `needle` in `hay`, eight bytes at a time.
fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let pattern = LOW * u64::from(needle);
    let mut words = hay.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let bytes: [u8; 8] = word.try_into().unwrap_or_default();
        let x = u64::from_le_bytes(bytes) ^ pattern;
        // Has a zero byte iff some byte equals `needle`.
        if x.wrapping_sub(LOW) & !x & HIGH != 0 {
            return word.iter().position(|&b| b == needle).map(|p| base + p);
        }
        base += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|p| base + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
ffffffff81000000 T _stext
ffffffff81000010 T __pfx_first
ffffffff81000020 T first
ffffffff81000020 t first_alias
ffffffff81000100 D some_data
ffffffff81000110 T __pfx_second
ffffffff81000120 T second
ffffffffc0001000 t mod_fn\t[mymod]
ffffffffc0001040 t mod_fn2\t[mymod]
";

    #[test]
    fn last_symbol_at_an_address_wins() {
        let syms = KernelSymbols::parse(TABLE.to_string());
        assert_eq!(syms.ksym(0xffffffff81000025), "first_alias");
        assert_eq!(syms.ksym(0xffffffff81000105), "first_alias");
        assert_eq!(syms.ksym(0x10), "0x10");
    }

    #[test]
    fn hex_addresses_parse_in_any_case() {
        assert_eq!(
            parse_address(b"ffffffff8100ABcd T x"),
            Some((0xffffffff8100abcd, 16))
        );
        assert_eq!(
            parse_address(b"0123456789abcdef T x"),
            Some((0x0123456789abcdef, 16))
        );
        assert_eq!(
            parse_address(b"ffffffff8100\x11bcd T x").map(|a| a.1),
            Some(12)
        );
        assert_eq!(parse_address(b"12ab t y"), Some((0x12ab, 4)));
        assert_eq!(find_byte(b"0123456789\tab", b'\t'), Some(10));
    }

    #[test]
    fn ksymoff_sizes_stop_at_padding_and_name_modules() {
        let syms = KernelSymbols::parse(TABLE.to_string());
        assert_eq!(
            syms.ksymoff(0xffffffff81000030),
            "first_alias+0x10/0xf0 [kernel]"
        );
        assert_eq!(syms.ksymoff(0xffffffffc0001001), "mod_fn+0x1/0x40 [mymod]");
        assert_eq!(syms.ksymoff(0xffffffffc0001041), "mod_fn2+0x1 [mymod]");
        assert_eq!(syms.address_of("second"), Some(0xffffffff81000120));
    }
}
