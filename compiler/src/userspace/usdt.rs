//! USDT (SystemTap SDT) probes: the `.note.stapsdt` notes a binary carries and
//! the x86-64 argument specs in them (`-4@%esi`, `8@-16(%rbp)`, `4@$1`,
//! `-4@40+Stats(%rip)`).

/// `NT_STAPSDT`, with owner name "stapsdt".
const NT_STAPSDT: u32 = 3;

/// One probe site (a probe may have several).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsdtSite {
    pub provider: String,
    pub name: String,
    /// Link-time address of the probe's `nop`.
    pub pc: u64,
    /// Link-time address of the semaphore (a u16 counter), 0 if none.
    pub semaphore: u64,
    /// The spec text, for listings.
    pub arg_text: String,
    pub args: Vec<UsdtArg>,
}

/// One argument: `size` bytes, sign-extended if `signed`, found at `location`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsdtArg {
    pub size: u8,
    pub signed: bool,
    pub location: ArgLocation,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgLocation {
    /// The value is (part of) a register.
    Register(Register),
    /// The value is in memory at `base register + disp`.
    Memory {
        base: Register,
        disp: i64,
    },
    /// The value is in memory at the run-time address of `symbol + disp`.
    RipRelative {
        symbol: String,
        disp: i64,
    },
    /// The value is in memory at the probe's run-time address plus `delta` (a
    /// `RipRelative` location once the symbol's link-time address is known).
    IpRelative {
        delta: i64,
    },
    Immediate(i64),
    /// A spec this reader cannot interpret (kept for the error message).
    Unsupported(String),
}

/// A general-purpose register as `struct pt_regs` holds it: the byte offset of
/// the 64-bit slot, the width of the named part and its bit shift (8 for `%ah`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Register {
    pub pt_regs_offset: u32,
    pub bits: u8,
    pub shift: u8,
}

/// Parse the notes section's bytes. `base_section` is the address of
/// `.stapsdt.base` in this file (the notes record its link-time address).
pub fn parse_notes(data: &[u8], base_section: Option<u64>) -> Vec<UsdtSite> {
    let mut sites = Vec::new();
    let mut at = 0usize;
    let align4 = |n: usize| (n + 3) & !3;
    while at + 12 <= data.len() {
        let word = |i: usize| u32::from_le_bytes(data[at + i..at + i + 4].try_into().unwrap());
        let (namesz, descsz, kind) = (word(0) as usize, word(4) as usize, word(8));
        let name_start = at + 12;
        let desc_start = name_start + align4(namesz);
        let next = desc_start + align4(descsz);
        if desc_start + descsz > data.len() {
            break;
        }
        let owner = &data[name_start..name_start + namesz];
        if kind == NT_STAPSDT && owner.strip_suffix(b"\0").unwrap_or(owner) == b"stapsdt" {
            if let Some(site) = parse_desc(&data[desc_start..desc_start + descsz], base_section) {
                sites.push(site);
            }
        }
        at = next;
    }
    sites
}

fn parse_desc(desc: &[u8], base_section: Option<u64>) -> Option<UsdtSite> {
    let u64_at = |i: usize| Some(u64::from_le_bytes(desc.get(i..i + 8)?.try_into().ok()?));
    let (mut pc, note_base, mut semaphore) = (u64_at(0)?, u64_at(8)?, u64_at(16)?);
    if let Some(actual) = base_section.filter(|_| note_base != 0) {
        let delta = actual.wrapping_sub(note_base);
        pc = pc.wrapping_add(delta);
        if semaphore != 0 {
            semaphore = semaphore.wrapping_add(delta);
        }
    }
    let mut strings = desc.get(24..)?.split(|&b| b == 0);
    let mut next = || String::from_utf8_lossy(strings.next().unwrap_or_default()).into_owned();
    let (provider, name, arg_text) = (next(), next(), next());
    let args = parse_args(&arg_text);
    Some(UsdtSite {
        provider,
        name,
        pc,
        semaphore,
        arg_text,
        args,
    })
}

/// Split a spec string on spaces and parse every argument.
pub fn parse_args(text: &str) -> Vec<UsdtArg> {
    text.split_whitespace().map(parse_arg).collect()
}

/// One `N@operand`; a missing or zero `N` means 8 unsigned bytes.
pub fn parse_arg(spec: &str) -> UsdtArg {
    let (size_text, operand) = match spec.split_once('@') {
        Some((n, op)) => (n, op),
        None => ("8", spec),
    };
    let n: i64 = size_text.parse().unwrap_or(8);
    let size = match n.unsigned_abs() {
        1 | 2 | 4 | 8 => n.unsigned_abs() as u8,
        _ => 8,
    };
    UsdtArg {
        size,
        signed: n < 0,
        location: parse_operand(operand)
            .unwrap_or_else(|| ArgLocation::Unsupported(spec.to_string())),
    }
}

fn parse_operand(op: &str) -> Option<ArgLocation> {
    if let Some(imm) = op.strip_prefix('$') {
        return parse_int(imm).map(ArgLocation::Immediate);
    }
    if let Some(reg) = op.strip_prefix('%') {
        return register(reg).map(ArgLocation::Register);
    }
    let (outside, inside) = op.strip_suffix(')')?.split_once('(')?;
    let reg = inside.strip_prefix('%')?;
    if reg == "rip" {
        let (symbol, disp) = symbol_and_disp(outside)?;
        return Some(ArgLocation::RipRelative { symbol, disp });
    }
    let base = register(reg).filter(|r| r.bits == 64)?;
    let disp = if outside.is_empty() {
        0
    } else {
        parse_int(outside)?
    };
    Some(ArgLocation::Memory { base, disp })
}

/// `Sym`, `Sym+8`, `8+Sym`, `Sym-8`.
fn symbol_and_disp(text: &str) -> Option<(String, i64)> {
    let mut symbol = None;
    let mut disp = 0i64;
    let mut rest = text;
    let mut sign = 1i64;
    while !rest.is_empty() {
        let end = rest[1..]
            .find(['+', '-'])
            .map(|i| i + 1)
            .unwrap_or(rest.len());
        let (term, tail) = rest.split_at(end);
        let term = match term.as_bytes()[0] {
            b'+' => &term[1..],
            b'-' => {
                sign = -1;
                &term[1..]
            }
            _ => term,
        };
        match parse_int(term) {
            Some(v) => disp += sign * v,
            None if symbol.is_none() && !term.is_empty() => symbol = Some(term.to_string()),
            None => return None,
        }
        sign = 1;
        rest = tail;
    }
    Some((symbol?, disp))
}

fn parse_int(text: &str) -> Option<i64> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let v = match digits.strip_prefix("0x") {
        Some(h) => i64::from_str_radix(h, 16).ok()?,
        None => digits.parse().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// x86-64 register names, every width, to their `pt_regs` slot.
fn register(name: &str) -> Option<Register> {
    const LEGACY: [(&str, u32); 8] = [
        ("ax", 80),
        ("bx", 40),
        ("cx", 88),
        ("dx", 96),
        ("si", 104),
        ("di", 112),
        ("bp", 32),
        ("sp", 152),
    ];
    const NUMBERED: [(&str, u32); 8] = [
        ("r8", 72),
        ("r9", 64),
        ("r10", 56),
        ("r11", 48),
        ("r12", 24),
        ("r13", 16),
        ("r14", 8),
        ("r15", 0),
    ];
    let reg = |off, bits, shift| {
        Some(Register {
            pt_regs_offset: off,
            bits,
            shift,
        })
    };
    for (base, off) in NUMBERED {
        if let Some(suffix) = name.strip_prefix(base) {
            return match suffix {
                "" => reg(off, 64, 0),
                "d" => reg(off, 32, 0),
                "w" => reg(off, 16, 0),
                "b" | "l" => reg(off, 8, 0),
                _ => None,
            };
        }
    }
    for (base, off) in LEGACY {
        let letter = &base[..1];
        let abcd = matches!(letter, "a" | "b" | "c" | "d") && base.ends_with('x');
        if name == format!("r{base}") {
            return reg(off, 64, 0);
        }
        if name == format!("e{base}") {
            return reg(off, 32, 0);
        }
        if name == base {
            return reg(off, 16, 0);
        }
        if abcd && name == format!("{letter}l") {
            return reg(off, 8, 0);
        }
        if abcd && name == format!("{letter}h") {
            return reg(off, 8, 8);
        }
        if !abcd && name == format!("{base}l") {
            return reg(off, 8, 0);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(spec: &str) -> ArgLocation {
        parse_arg(spec).location
    }

    #[test]
    fn registers_of_every_width() {
        let r = |off, bits, shift| {
            ArgLocation::Register(Register {
                pt_regs_offset: off,
                bits,
                shift,
            })
        };
        assert_eq!(loc("8@%rax"), r(80, 64, 0));
        assert_eq!(loc("4@%r14d"), r(8, 32, 0));
        assert_eq!(loc("-4@%esi"), r(104, 32, 0));
        assert_eq!(loc("1@%dil"), r(112, 8, 0));
        assert_eq!(loc("1@%sil"), r(104, 8, 0));
        assert_eq!(loc("1@%al"), r(80, 8, 0));
        assert_eq!(loc("1@%ah"), r(80, 8, 8));
        assert_eq!(loc("2@%r9w"), r(64, 16, 0));
        assert_eq!(loc("2@%bx"), r(40, 16, 0));
        assert_eq!(loc("1@%bpl"), r(32, 8, 0));
        assert!(matches!(loc("8@%xmm0"), ArgLocation::Unsupported(_)));
    }

    #[test]
    fn memory_immediate_and_rip_relative() {
        let a = parse_arg("-4@-136(%rbp)");
        assert_eq!((a.size, a.signed), (4, true));
        assert_eq!(
            a.location,
            ArgLocation::Memory {
                base: register("rbp").unwrap(),
                disp: -136
            }
        );
        assert_eq!(
            loc("4@(%r12)"),
            ArgLocation::Memory {
                base: register("r12").unwrap(),
                disp: 0
            }
        );
        assert_eq!(loc("-4@$8192"), ArgLocation::Immediate(8192));
        assert_eq!(loc("4@$-3"), ArgLocation::Immediate(-3));
        assert_eq!(
            loc("-4@40+CheckpointStats(%rip)"),
            ArgLocation::RipRelative {
                symbol: "CheckpointStats".into(),
                disp: 40
            }
        );
        assert_eq!(
            loc("-4@NBuffers(%rip)"),
            ArgLocation::RipRelative {
                symbol: "NBuffers".into(),
                disp: 0
            }
        );
        assert_eq!(
            loc("8@counter+8(%rip)"),
            ArgLocation::RipRelative {
                symbol: "counter".into(),
                disp: 8
            }
        );
        let plain = parse_arg("%rdi");
        assert_eq!((plain.size, plain.signed), (8, false));
    }

    #[test]
    fn notes_parse_and_follow_the_base() {
        let mut desc = Vec::new();
        desc.extend_from_slice(&0x1000u64.to_le_bytes());
        desc.extend_from_slice(&0x5000u64.to_le_bytes());
        desc.extend_from_slice(&0x6000u64.to_le_bytes());
        desc.extend_from_slice(b"prov\0probe\0-4@%edi 8@%rsi\0");
        let mut note = Vec::new();
        note.extend_from_slice(&8u32.to_le_bytes());
        note.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        note.extend_from_slice(&NT_STAPSDT.to_le_bytes());
        note.extend_from_slice(b"stapsdt\0");
        note.extend_from_slice(&desc);
        while note.len() % 4 != 0 {
            note.push(0);
        }
        let sites = parse_notes(&note, Some(0x5100));
        assert_eq!(sites.len(), 1);
        let s = &sites[0];
        assert_eq!((s.provider.as_str(), s.name.as_str()), ("prov", "probe"));
        assert_eq!((s.pc, s.semaphore), (0x1100, 0x6100));
        assert_eq!(s.args.len(), 2);
        assert!(s.args[0].signed);
    }
}
