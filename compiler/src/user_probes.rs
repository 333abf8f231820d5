//! uprobe and USDT attach points: `uprobe:bin:func`, `uprobe:bin:func+off`,
//! `uprobe:bin:0xaddr`, `usdt:bin:[provider:]probe`, wildcards, and the forms
//! without a binary under `-p`/`-c`, resolved against the ELF files on disk.

use crate::probes::{parse_number, Env, Resolved, Target};
use crate::tracefs;
use crate::userspace::usdt::{ArgLocation, UsdtArg, UsdtSite};
use crate::userspace::{self, elf_info::ElfInfo};
use std::path::{Path, PathBuf};

/// The binary part of a user-space probe: given, or the `-p`/`-c` program's.
fn user_binary(given: Option<&str>, env: &Env) -> Result<PathBuf, String> {
    match given {
        Some(name) => userspace::resolve_binary(name, env.pid),
        None => match (env.pid, &env.command) {
            (Some(pid), _) => userspace::process_binary(pid),
            (None, Some(cmd)) => Ok(cmd.clone()),
            (None, None) => Err(
                "this probe names no binary: write it as `probe:<binary>:<name>`, or trace a \
                 process with -p PID or a command with -c"
                    .to_string(),
            ),
        },
    }
}

/// `uprobe:bin:func`, `uprobe:bin:func+off`, `uprobe:bin:0xaddr`, `uprobe:bin:glob*`,
/// `uprobe:func` (with -p or -c); likewise `uretprobe`.
pub(crate) fn uprobe(parts: &[&str], env: &Env) -> Result<Vec<Resolved>, String> {
    let ret = parts[0].starts_with("ur");
    let kind = if ret { "uretprobe" } else { "uprobe" };
    let (bin, spec) = match parts.len() {
        2 => (None, parts[1]),
        3 => (Some(parts[1]), parts[2]),
        _ => return Err(format!("expected `{kind}:<binary>:<function>`")),
    };
    if spec.is_empty() {
        return Err(format!("expected `{kind}:<binary>:<function>`"));
    }
    let path = user_binary(bin, env)?;
    let info = userspace::elf_info(&path)?;
    let path_text = path.to_string_lossy().into_owned();
    let make = |function: String, offset: u64, suffix: Option<String>| Resolved {
        name: format!(
            "{kind}:{path_text}:{}",
            suffix.unwrap_or_else(|| function.clone())
        ),
        target: Target::Uprobe {
            path: path_text.clone(),
            function,
            offset,
            ret,
            pid: env.pid,
        },
    };
    if let Some(addr) = spec
        .strip_prefix("0x")
        .and_then(|h| u64::from_str_radix(h, 16).ok())
    {
        let offset = info
            .file_offset(addr)
            .ok_or_else(|| format!("address {spec} is not in a loaded segment of {path_text}"))?;
        let function = info
            .function_at(addr)
            .map(|f| f.name.clone())
            .unwrap_or_else(|| spec.to_string());
        return Ok(vec![make(function, offset, Some(spec.to_string()))]);
    }
    if tracefs::has_wildcard(spec) {
        let found: Vec<Resolved> = info
            .functions
            .iter()
            .filter(|f| tracefs::glob_match(spec, &f.name))
            .filter_map(|f| Some(make(f.name.clone(), info.file_offset(f.addr)?, None)))
            .collect();
        if found.is_empty() {
            return Err(format!("no function in {path_text} matches `{spec}`"));
        }
        return Ok(found);
    }
    let (function, off) = match spec.split_once('+') {
        Some((f, o)) => {
            let o = parse_number(o)
                .ok_or_else(|| format!("the offset in `{spec}` must be a number"))?;
            if ret {
                return Err("a uretprobe cannot take an offset".to_string());
            }
            (f, o)
        }
        None => (spec, 0),
    };
    let sym = info
        .function(function)
        .ok_or_else(|| format!("{path_text} has no function `{function}` in its symbol tables"))?;
    if off > 0 && sym.size > 0 && off >= sym.size {
        return Err(format!(
            "offset {off} is past the end of {function} ({} bytes)",
            sym.size
        ));
    }
    let offset = info
        .file_offset(sym.addr + off)
        .ok_or_else(|| format!("{function} is not in a loaded segment of {path_text}"))?;
    let suffix = (off > 0).then(|| format!("{function}+{off}"));
    Ok(vec![make(function.to_string(), offset, suffix)])
}

/// `usdt:bin:probe`, `usdt:bin:provider:probe`, `usdt:probe` (with -p or -c);
/// wildcards in provider and probe. One target per probe site.
pub(crate) fn usdt(parts: &[&str], env: &Env) -> Result<Vec<Resolved>, String> {
    let (bins, provider, probe): (Vec<PathBuf>, &str, &str) = match parts.len() {
        2 => (usdt_default_binaries(env)?, "*", parts[1]),
        // With -p, `usdt:provider:probe` names no binary when no file fits.
        3 => match user_binary(Some(parts[1]), env) {
            Ok(bin) => (vec![bin], "*", parts[2]),
            Err(_) if env.pid.is_some() => (usdt_default_binaries(env)?, parts[1], parts[2]),
            Err(e) => return Err(e),
        },
        4 => (vec![user_binary(Some(parts[1]), env)?], parts[2], parts[3]),
        _ => return Err("expected `usdt:<binary>:[<provider>:]<probe>`".to_string()),
    };
    if probe.is_empty() {
        return Err("expected `usdt:<binary>:[<provider>:]<probe>`".to_string());
    }
    let mut found = Vec::new();
    for bin in &bins {
        let Ok(info) = userspace::elf_info(bin) else {
            continue;
        };
        for site in &info.usdt {
            if tracefs::glob_match(provider, &site.provider)
                && tracefs::glob_match(probe, &site.name)
            {
                found.push(usdt_site(&info, bin, site, env.pid)?);
            }
        }
    }
    if found.is_empty() {
        let names: Vec<String> = bins.iter().map(|b| b.display().to_string()).collect();
        return Err(format!(
            "no USDT probe matches `{provider}:{probe}` in {}",
            names.join(", ")
        ));
    }
    Ok(found)
}

/// For `usdt:probe`: the traced process's executable and every file it maps,
/// or the `-c` command's binary.
fn usdt_default_binaries(env: &Env) -> Result<Vec<PathBuf>, String> {
    let Some(pid) = env.pid else {
        return user_binary(None, env).map(|b| vec![b]);
    };
    let mut bins = vec![userspace::process_binary(pid)?];
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    for path in maps.lines().filter_map(|l| l.split_whitespace().nth(5)) {
        let path = PathBuf::from(path);
        if path.is_absolute() && !bins.contains(&path) {
            bins.push(path);
        }
    }
    Ok(bins)
}

fn usdt_site(
    info: &ElfInfo,
    bin: &Path,
    site: &UsdtSite,
    pid: Option<i32>,
) -> Result<Resolved, String> {
    let path = bin.to_string_lossy().into_owned();
    let full = format!("{}:{}", site.provider, site.name);
    let offset = info
        .file_offset(site.pc)
        .ok_or_else(|| format!("USDT probe {full} is not in a loaded segment of {path}"))?;
    let semaphore = match site.semaphore {
        0 => 0,
        addr => info.file_offset(addr).ok_or_else(|| {
            format!("the semaphore of USDT probe {full} is not in {path}'s segments")
        })?,
    };
    let args = site
        .args
        .iter()
        .map(|a| bake_usdt_arg(info, site.pc, a))
        .collect();
    Ok(Resolved {
        name: format!("usdt:{path}:{full}"),
        target: Target::Usdt {
            path,
            provider: site.provider.clone(),
            name: site.name.clone(),
            offset,
            semaphore,
            args,
            pid,
        },
    })
}

/// Turn a `sym(%rip)` location into an offset from the probe's own address,
/// which the program knows at run time (`ip`), whatever the load address.
fn bake_usdt_arg(info: &ElfInfo, pc: u64, arg: &UsdtArg) -> UsdtArg {
    let location = match &arg.location {
        ArgLocation::RipRelative { symbol, disp } => match info.symbols.get(symbol) {
            Some(&addr) => ArgLocation::IpRelative {
                delta: addr.wrapping_add(*disp as u64).wrapping_sub(pc) as i64,
            },
            None => ArgLocation::Unsupported(format!(
                "{symbol}(%rip): the symbol {symbol} is not in the binary's symbol tables"
            )),
        },
        other => other.clone(),
    };
    UsdtArg {
        location,
        ..arg.clone()
    }
}
