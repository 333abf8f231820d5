//! Builders for the golden tests: maps filled the way the kernel programs fill
//! them (per-CPU copies, hist keys with a bucket index), and a fixed resolver.

#![allow(dead_code)]

pub mod cases;

use rtrace_stdlib::buckets::{hist_bucket_of, lhist_bucket_of};
use rtrace_stdlib::output::{RawEntry, RawMap};
use rtrace_stdlib::symbols::Resolver;
use rtrace_stdlib::types::{tuple_layout, Type};

/// Number of CPUs the simulated per-CPU maps have.
pub const CPUS: usize = 2;

/// Symbols from a fixed table, probe names from a list.
pub struct FixedResolver {
    pub ksyms: Vec<(u64, &'static str)>,
    pub probes: Vec<&'static str>,
}

impl FixedResolver {
    pub fn new() -> FixedResolver {
        FixedResolver {
            ksyms: vec![
                (0xffffffff812077c0, "abort"),
                (0xffffffff820938b0, "tcp_v4_rcv"),
            ],
            probes: vec!["BEGIN", "tracepoint:syscalls:sys_enter_read"],
        }
    }
}

impl Resolver for FixedResolver {
    fn ksym(&self, addr: u64) -> String {
        self.ksyms
            .iter()
            .rev()
            .find(|(a, _)| *a <= addr)
            .map(|(_, n)| n.to_string())
            .unwrap_or_else(|| format!("0x{addr:x}"))
    }

    fn usym(&self, addr: u64, _pid: Option<u32>) -> String {
        format!("0x{addr:x}")
    }

    fn probe_name(&self, id: u64) -> String {
        self.probes[id as usize].to_string()
    }
}

/// An integer as stored in a key, value or tuple field.
pub fn int(v: i64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// A NUL-padded string of capacity `len`.
pub fn string(s: &str, len: u32) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.resize(len as usize, 0);
    b
}

/// A tuple laid out by the layout rule: each field 8-aligned.
pub fn tuple(fields: &[(Type, Vec<u8>)]) -> Vec<u8> {
    let types: Vec<Type> = fields.iter().map(|(t, _)| t.clone()).collect();
    let (offsets, size) = tuple_layout(&types);
    let mut out = vec![0u8; size as usize];
    for ((_, bytes), off) in fields.iter().zip(offsets) {
        out[off as usize..off as usize + bytes.len()].copy_from_slice(bytes);
    }
    out
}

pub fn map(name: &str, key_type: Type, value_type: Type) -> RawMap {
    RawMap {
        name: name.to_string(),
        key_type,
        value_type,
        entries: Vec::new(),
    }
}

/// A map of plain (not per-CPU) values.
pub fn plain_map(
    name: &str,
    key_type: Type,
    value_type: Type,
    items: &[(Vec<u8>, Vec<u8>)],
) -> RawMap {
    let mut m = map(name, key_type, value_type);
    m.entries = items
        .iter()
        .map(|(k, v)| RawEntry {
            key: k.clone(),
            values: vec![v.clone()],
        })
        .collect();
    m
}

/// Per-CPU state of one aggregation, updated like the kernel does.
#[derive(Clone)]
struct Slot {
    first: i64,
    second: u64,
}

/// Runs `@name[key] = agg(value)` for each `(key, value)` sample, alternating
/// the samples between CPUs, and returns the per-CPU map the kernel would hold.
pub fn agg_map(name: &str, key_type: Type, value_type: Type, samples: &[(Vec<u8>, i64)]) -> RawMap {
    let mut m = map(name, key_type, value_type.clone());
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut slots: Vec<Vec<Slot>> = Vec::new();
    for (n, (user_key, v)) in samples.iter().enumerate() {
        let key = match &value_type {
            Type::Hist => [user_key.clone(), int(hist_bucket_of(*v) as i64)].concat(),
            Type::Lhist { min, max, step } => [
                user_key.clone(),
                int(lhist_bucket_of(*v, *min, *max, *step) as i64),
            ]
            .concat(),
            _ => user_key.clone(),
        };
        let i = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
            keys.push(key);
            slots.push(vec![
                Slot {
                    first: 0,
                    second: 0
                };
                CPUS
            ]);
            keys.len() - 1
        });
        update(&mut slots[i][n % CPUS], &value_type, *v);
    }
    m.entries = keys
        .into_iter()
        .zip(slots)
        .map(|(key, cpus)| RawEntry {
            key,
            values: cpus.iter().map(|s| encode(s, &value_type)).collect(),
        })
        .collect();
    m
}

fn update(slot: &mut Slot, ty: &Type, v: i64) {
    match ty {
        Type::Count | Type::Hist | Type::Lhist { .. } => slot.first += 1,
        Type::Sum | Type::Avg | Type::Stats => {
            slot.first = slot.first.wrapping_add(v);
            slot.second += 1;
        }
        Type::Min => {
            if slot.second == 0 || v < slot.first {
                slot.first = v;
            }
            slot.second = 1;
        }
        Type::Max => {
            if slot.second == 0 || v > slot.first {
                slot.first = v;
            }
            slot.second = 1;
        }
        other => panic!("not an aggregation: {other}"),
    }
}

fn encode(slot: &Slot, ty: &Type) -> Vec<u8> {
    match ty {
        Type::Count | Type::Hist | Type::Lhist { .. } => int(slot.first),
        _ => [int(slot.first), int(slot.second as i64)].concat(),
    }
}

/// What bpftrace prints at exit for these maps: two empty lines, then each map
/// in name order.
pub fn exit_dump(maps: &[RawMap], print: impl Fn(&RawMap) -> String) -> String {
    let mut sorted: Vec<&RawMap> = maps.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::from("\n\n");
    for m in sorted {
        out.push_str(&print(m));
    }
    out
}

/// A bpftrace 0.17 output with its first line (`Attaching 1 probe...`) removed.
pub fn after_attaching(output: &str) -> &str {
    output.split_once('\n').map_or("", |(_, rest)| rest)
}
