//! The BTF reader against this machine's kernel BTF (`/sys/kernel/btf`), cross-checked with
//! bpftool where available, plus hand-built BTF for split BTF, rendering and malformed input.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rtrace_compiler::btf::{Btf, BtfError, Kind, Type, TypeId};

fn vmlinux() -> &'static Arc<Btf> {
    static BTF: OnceLock<Arc<Btf>> = OnceLock::new();
    BTF.get_or_init(|| Arc::new(Btf::load_vmlinux().expect("load /sys/kernel/btf/vmlinux")))
}

fn vmlinux_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read("/sys/kernel/btf/vmlinux").expect("read vmlinux BTF"))
}

fn struct_id(btf: &Btf, name: &str) -> TypeId {
    btf.find_struct(name)
        .unwrap_or_else(|| panic!("struct {name} not in BTF"))
}

#[test]
fn load_and_first_lookup_are_fast() {
    let best = |v: &[Duration]| v.iter().min().copied().unwrap();
    let (mut loads, mut structs, mut funcs, mut tracepoints) = (vec![], vec![], vec![], vec![]);
    for _ in 0..5 {
        let start = Instant::now();
        let btf = Btf::load_vmlinux().unwrap();
        loads.push(start.elapsed());
        let start = Instant::now();
        let sock = btf.find_struct("sock").unwrap();
        let dport = btf.member(sock, "__sk_common.skc_dport").unwrap();
        structs.push(start.elapsed());
        assert_eq!(dport.offset, 12);
        let start = Instant::now();
        assert_eq!(btf.func_params("tcp_sendmsg").unwrap().len(), 3);
        funcs.push(start.elapsed());
        let start = Instant::now();
        assert_eq!(btf.raw_tracepoint_args("sched_switch").unwrap().len(), 4);
        tracepoints.push(start.elapsed());
    }
    let read_start = Instant::now();
    let bytes = std::fs::read("/sys/kernel/btf/vmlinux").unwrap();
    let read = read_start.elapsed();
    eprintln!(
        "BTF ({} bytes): load best {:?} of {loads:?}; first struct + member {:?}; first func \
         params {:?}; first raw tracepoint args {:?} (for reference, read(2) alone: {read:?})",
        bytes.len(),
        best(&loads),
        best(&structs),
        best(&funcs),
        best(&tracepoints),
    );
    // Generous bounds: debug builds are ~10x slower than release, and the VM is noisy.
    assert!(best(&loads) < Duration::from_millis(300));
    assert!(best(&structs) < Duration::from_millis(300));
    assert!(best(&funcs) < Duration::from_millis(300));
}

#[test]
fn sock_common_offsets_through_anonymous_unions() {
    let btf = vmlinux();
    let sock = struct_id(btf, "sock");
    let dport = btf.member(sock, "__sk_common.skc_dport").unwrap();
    assert_eq!(
        (dport.offset, dport.bit_offset, dport.bitfield_size),
        (12, 96, 0)
    );
    assert_eq!(btf.type_name(dport.ty), "__be16");
    assert_eq!(btf.size_of(dport.ty), Some(2));
    let daddr = btf.member(sock, "__sk_common.skc_daddr").unwrap();
    assert_eq!((daddr.offset, daddr.bit_offset), (0, 0));
    let saddr = btf.member(sock, "__sk_common.skc_rcv_saddr").unwrap();
    assert_eq!(saddr.offset, 4);
    let num = btf.member(sock, "__sk_common.skc_num").unwrap();
    assert_eq!(num.offset, 14);
    // Directly on sock_common too, with the same offsets.
    let common = struct_id(btf, "sock_common");
    assert_eq!(btf.member(common, "skc_dport").unwrap().offset, 12);
    // The anonymous union itself is not addressable by a name.
    let err = btf.member(common, "skc_portpair_missing").unwrap_err();
    assert_eq!(
        err,
        BtfError::NoMember {
            ty: "struct sock_common".into(),
            member: "skc_portpair_missing".into()
        }
    );
}

#[test]
fn task_struct_fields() {
    let btf = vmlinux();
    let task = struct_id(btf, "task_struct");
    assert_eq!(btf.type_name(task), "struct task_struct");
    let pid = btf.member(task, "pid").unwrap();
    let tgid = btf.member(task, "tgid").unwrap();
    assert_eq!(btf.type_name(pid.ty), "pid_t");
    assert_eq!(btf.type_name(btf.resolve(pid.ty).unwrap()), "int");
    assert_eq!(btf.size_of(pid.ty), Some(4));
    assert_eq!(tgid.offset, pid.offset + 4, "tgid follows pid");
    let comm = btf.member(task, "comm").unwrap();
    assert_eq!(btf.type_name(comm.ty), "char[16]");
    assert_eq!(btf.size_of(comm.ty), Some(16));
    let mm = btf.member(task, "mm").unwrap();
    assert_eq!(btf.type_name(mm.ty), "struct mm_struct *");
    assert_eq!(btf.size_of(mm.ty), Some(8));
    let Some(Type::Ptr { to }) = btf.get(btf.resolve(mm.ty).unwrap()) else {
        panic!("mm is not a pointer");
    };
    assert_eq!(Some(to), btf.find_struct("mm_struct"));
    // `curtask` is a `struct task_struct *`; BTF has such a pointer record.
    let task_ptr = btf.pointer_to(task).unwrap();
    assert_eq!(btf.type_name(task_ptr), "struct task_struct *");
    assert!(matches!(
        btf.member(task, "mm..pgd"),
        Err(BtfError::NoMember { .. })
    ));
    assert!(matches!(
        btf.member(task, ""),
        Err(BtfError::NoMember { .. })
    ));
    // A nested path through a pointer is not a member path.
    assert!(matches!(
        btf.member(task, "mm.pgd"),
        Err(BtfError::NotComposite(ty)) if ty == "struct mm_struct *"
    ));
    // Offsets agree with bpftool on this kernel.
    if let Some(dump) = bpftool_dump() {
        let members = &dump.members[&task];
        for name in ["pid", "tgid", "comm", "mm"] {
            let bits = members.iter().find(|m| m.0 == name).unwrap().2;
            assert_eq!(btf.member(task, name).unwrap().bit_offset, bits, "{name}");
        }
    }
}

#[test]
fn bitfield_members() {
    let btf = vmlinux();
    let common = struct_id(btf, "sock_common");
    let reuse = btf.member(common, "skc_reuse").unwrap();
    assert!(reuse.is_bitfield());
    assert_eq!(
        (reuse.bit_offset, reuse.bitfield_size, reuse.offset),
        (152, 4, 19)
    );
    let reuseport = btf.member(common, "skc_reuseport").unwrap();
    assert_eq!((reuseport.bit_offset, reuseport.bitfield_size), (156, 1));
    // Through the outer struct the bit offset is unchanged (sock_common is at 0).
    let sock = struct_id(btf, "sock");
    let via_sock = btf.member(sock, "__sk_common.skc_reuseport").unwrap();
    assert_eq!(via_sock, reuseport);
    // struct sk_buff has bitfields inside anonymous structs.
    let skb = struct_id(btf, "sk_buff");
    let bitfields: Vec<_> = btf
        .members(skb)
        .unwrap()
        .into_iter()
        .filter(|m| m.info.is_bitfield())
        .collect();
    assert!(bitfields.len() > 10, "sk_buff bitfields: {bitfields:?}");
    let pkt_type = btf.member(skb, "pkt_type").unwrap();
    assert_eq!(pkt_type.bitfield_size, 3);
    assert!(bitfields
        .iter()
        .any(|m| m.name == "pkt_type" && m.info == pkt_type));
}

#[test]
fn flattened_members_for_suggestions() {
    let btf = vmlinux();
    let common = struct_id(btf, "sock_common");
    let names: Vec<&str> = btf
        .members(common)
        .unwrap()
        .iter()
        .map(|m| m.name)
        .collect();
    for name in [
        "skc_daddr",
        "skc_rcv_saddr",
        "skc_dport",
        "skc_num",
        "skc_family",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    assert!(!names.contains(&""));
    let sock = struct_id(btf, "sock");
    let flat = btf.members(sock).unwrap();
    assert_eq!(flat[0].name, "__sk_common");
    let mut offsets = flat.iter().map(|m| m.info.bit_offset);
    assert!(offsets.all(|o| o < 784 * 8));
    assert!(btf
        .members(btf.find_type_by_name(Kind::Typedef, "pid_t").unwrap())
        .is_err());
}

#[test]
fn enum_values_and_names() {
    let btf = vmlinux();
    let reason = btf.find_enum("skb_drop_reason").unwrap();
    assert_eq!(btf.enum_name(reason, 3), Some("SKB_DROP_REASON_NO_SOCKET"));
    assert_eq!(btf.enum_name(reason, 0), Some("SKB_NOT_DROPPED_YET"));
    assert_eq!(btf.enum_name(reason, 0xFFFF_FFF0), None);
    assert_eq!(
        btf.enumerator("SKB_DROP_REASON_NO_SOCKET"),
        Some((reason, 3))
    );
    let Some(Type::Enum(e)) = btf.get(reason) else {
        panic!("not an enum");
    };
    assert_eq!((e.name, e.size, e.signed), ("skb_drop_reason", 4, false));
    assert!(e.values.len() > 100);
    // Anonymous enum constants are found too (bool's false/true).
    assert_eq!(btf.enumerator("true").map(|(_, v)| v), Some(1));
    // A 64-bit enum.
    let (perf_txn, _) = btf.enumerator("PERF_TXN_ELISION").unwrap();
    assert_eq!(btf.kind(perf_txn), Some(Kind::Enum64));
    assert_eq!(btf.enum_name(perf_txn, 1), Some("PERF_TXN_ELISION"));
}

#[test]
fn function_parameters() {
    let btf = vmlinux();
    let params = btf.func_params("tcp_sendmsg").unwrap();
    let shown: Vec<(&str, String)> = params
        .iter()
        .map(|p| (p.name, btf.type_name(p.ty)))
        .collect();
    assert_eq!(
        shown,
        [
            ("sk", "struct sock *".to_string()),
            ("msg", "struct msghdr *".to_string()),
            ("size", "size_t".to_string())
        ]
    );
    let sig = btf.func_signature("tcp_sendmsg").unwrap();
    assert_eq!(btf.type_name(sig.ret), "int");
    assert!(!sig.variadic);
    assert!(btf.func_params("no_such_function_here").is_none());
    // A variadic function drops the `...` marker.
    let printk = btf.func_signature("_printk").unwrap();
    assert!(printk.variadic);
    assert_eq!(btf.type_name(printk.params[0].ty), "const char *");
}

#[test]
fn raw_tracepoint_arguments() {
    let btf = vmlinux();
    let args = btf.raw_tracepoint_args("sched_switch").unwrap();
    let shown: Vec<(&str, String)> = args.iter().map(|p| (p.name, btf.type_name(p.ty))).collect();
    assert_eq!(
        shown,
        [
            ("preempt", "bool".to_string()),
            ("prev", "struct task_struct *".to_string()),
            ("next", "struct task_struct *".to_string()),
            ("prev_state", "unsigned int".to_string())
        ]
    );
    let sys_enter = btf.raw_tracepoint_args("sys_enter").unwrap();
    let names: Vec<&str> = sys_enter.iter().map(|p| p.name).collect();
    assert_eq!(names, ["regs", "id"]);
    assert_eq!(btf.type_name(sys_enter[1].ty), "long int");
    assert!(btf.raw_tracepoint_args("no_such_tracepoint").is_none());
}

#[test]
fn type_names_render_like_c() {
    let btf = vmlinux();
    let fops = struct_id(btf, "file_operations");
    let read = btf.member(fops, "read").unwrap();
    assert_eq!(
        btf.type_name(read.ty),
        "ssize_t (*)(struct file *, char *, size_t, loff_t *)"
    );
    assert_eq!(btf.type_name(0), "void");
    let ulong = btf
        .find_type_by_name(Kind::Int, "long unsigned int")
        .unwrap();
    assert_eq!(btf.type_name(ulong), "long unsigned int");
    assert_eq!(btf.size_of(ulong), Some(8));
    let sock = struct_id(btf, "sock");
    assert_eq!(
        btf.size_of(sock),
        btf.get(sock).unwrap().composite().map(|c| c.size as u64)
    );
    assert_eq!(btf.size_of(0), None);
    let func = btf.find_type_by_name(Kind::Func, "tcp_sendmsg").unwrap();
    assert_eq!(
        btf.type_name(func),
        "int tcp_sendmsg(struct sock *, struct msghdr *, size_t)"
    );
}

#[test]
fn names_by_kind_for_suggestions() {
    let btf = vmlinux();
    let structs = btf.names_of_kind(Kind::Struct);
    assert!(structs.len() > 1000);
    assert!(structs.iter().any(|&(_, n)| n == "task_struct"));
    assert!(btf.find_struct("task_strct").is_none());
    assert_eq!(btf.find_type_by_name(Kind::Union, "sock"), None);
    let ids = btf.find_types_by_name(Kind::Struct, "sock");
    assert_eq!(ids.len(), 1);
}

// ---- bpftool cross-check -------------------------------------------------------------------

/// The raw dump of vmlinux by bpftool: per type its kind, name and `key=value` fields, and
/// for structs, unions, enums and prototypes their entries.
struct Dump {
    types: HashMap<TypeId, (String, String, HashMap<String, String>)>,
    /// (name, type id, bit offset, bitfield size)
    members: HashMap<TypeId, Vec<(String, TypeId, u32, u8)>>,
    /// (name, value text)
    enumerators: HashMap<TypeId, Vec<(String, String)>>,
    /// (name, type id)
    params: HashMap<TypeId, Vec<(String, TypeId)>>,
}

fn bpftool_dump() -> Option<&'static Dump> {
    static DUMP: OnceLock<Option<Dump>> = OnceLock::new();
    DUMP.get_or_init(|| {
        let out = Command::new("bpftool")
            .args([
                "btf",
                "dump",
                "file",
                "/sys/kernel/btf/vmlinux",
                "format",
                "raw",
            ])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        Some(parse_dump(&String::from_utf8_lossy(&out.stdout)))
    })
    .as_ref()
}

/// Splits `'name' rest` into the name ("" for `(anon)`) and the rest.
fn quoted(line: &str) -> (String, &str) {
    let Some(rest) = line.strip_prefix('\'') else {
        return (String::new(), line);
    };
    let end = rest.find('\'').unwrap();
    let name = &rest[..end];
    let name = if name == "(anon)" { "" } else { name };
    (name.to_string(), rest[end + 1..].trim_start())
}

fn fields(text: &str) -> HashMap<String, String> {
    text.split_whitespace()
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_end_matches(',').to_string()))
        .collect()
}

fn parse_dump(text: &str) -> Dump {
    let mut dump = Dump {
        types: HashMap::new(),
        members: HashMap::new(),
        enumerators: HashMap::new(),
        params: HashMap::new(),
    };
    let mut current: (TypeId, String) = (0, String::new());
    for line in text.lines() {
        if let Some(entry) = line.strip_prefix('\t') {
            let (name, rest) = quoted(entry);
            let f = fields(rest);
            let (id, kind) = (&current.0, current.1.as_str());
            let num = |k: &str| f.get(k).map_or(0, |v| v.parse::<u64>().unwrap());
            match kind {
                "STRUCT" | "UNION" => dump.members.entry(*id).or_default().push((
                    name,
                    num("type_id") as TypeId,
                    num("bits_offset") as u32,
                    num("bitfield_size") as u8,
                )),
                "ENUM" | "ENUM64" => dump
                    .enumerators
                    .entry(*id)
                    .or_default()
                    .push((name, f["val"].clone())),
                "FUNC_PROTO" => dump
                    .params
                    .entry(*id)
                    .or_default()
                    .push((name, num("type_id") as TypeId)),
                _ => {}
            }
            continue;
        }
        let Some(rest) = line.strip_prefix('[') else {
            continue;
        };
        let (id, rest) = rest.split_once("] ").unwrap();
        let (kind, rest) = rest.split_once(' ').unwrap();
        let (name, rest) = quoted(rest);
        let id: TypeId = id.parse().unwrap();
        current = (id, kind.to_string());
        dump.types
            .insert(id, (kind.to_string(), name, fields(rest)));
    }
    dump
}

fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::Void => "VOID",
        Kind::Int => "INT",
        Kind::Ptr => "PTR",
        Kind::Array => "ARRAY",
        Kind::Struct => "STRUCT",
        Kind::Union => "UNION",
        Kind::Enum => "ENUM",
        Kind::Fwd => "FWD",
        Kind::Typedef => "TYPEDEF",
        Kind::Volatile => "VOLATILE",
        Kind::Const => "CONST",
        Kind::Restrict => "RESTRICT",
        Kind::Func => "FUNC",
        Kind::FuncProto => "FUNC_PROTO",
        Kind::Var => "VAR",
        Kind::Datasec => "DATASEC",
        Kind::Float => "FLOAT",
        Kind::DeclTag => "DECL_TAG",
        Kind::TypeTag => "TYPE_TAG",
        Kind::Enum64 => "ENUM64",
    }
}

/// The fields bpftool prints on a type's header line that our view can be compared with.
fn header_fields(ty: &Type<'_>) -> Vec<(&'static str, String)> {
    match ty {
        Type::Int {
            size, bits, offset, ..
        } => vec![
            ("size", size.to_string()),
            ("nr_bits", bits.to_string()),
            ("bits_offset", offset.to_string()),
        ],
        Type::Ptr { to }
        | Type::Typedef { to, .. }
        | Type::Const { to }
        | Type::Volatile { to }
        | Type::Restrict { to }
        | Type::TypeTag { to, .. }
        | Type::Var { ty: to, .. }
        | Type::Func { proto: to, .. } => vec![("type_id", to.to_string())],
        Type::Array { elem, index, len } => vec![
            ("type_id", elem.to_string()),
            ("index_type_id", index.to_string()),
            ("nr_elems", len.to_string()),
        ],
        Type::Struct(c) | Type::Union(c) => vec![
            ("size", c.size.to_string()),
            ("vlen", c.members.len().to_string()),
        ],
        Type::Enum(e) | Type::Enum64(e) => vec![
            ("size", e.size.to_string()),
            ("vlen", e.values.len().to_string()),
        ],
        Type::FuncProto { ret, params } => vec![
            ("ret_type_id", ret.to_string()),
            ("vlen", params.len().to_string()),
        ],
        Type::Datasec { size, vars, .. } => {
            vec![("size", size.to_string()), ("vlen", vars.len().to_string())]
        }
        Type::Float { size, .. } => vec![("size", size.to_string())],
        Type::DeclTag { to, component, .. } => vec![
            ("type_id", to.to_string()),
            ("component_idx", component.to_string()),
        ],
        Type::Void | Type::Fwd { .. } => vec![],
    }
}

/// bpftool prints unsigned values plainly, signed ones as i64, and 64-bit ones with a suffix.
fn enum_value_text(value: i64, signed: bool, wide: bool) -> String {
    match (wide, signed) {
        (true, true) => format!("{value}LL"),
        (true, false) => format!("{}ULL", value as u64),
        (false, _) => value.to_string(),
    }
}

#[test]
fn every_type_agrees_with_bpftool() {
    let Some(dump) = bpftool_dump() else {
        eprintln!("bpftool not available: cross-check skipped");
        return;
    };
    let btf = vmlinux();
    assert_eq!(dump.types.len() as u32, btf.end_id() - 1);
    for id in 1..btf.end_id() {
        let ty = btf.get(id).unwrap();
        let (kind, name, f) = &dump.types[&id];
        assert_eq!(kind_label(btf.kind(id).unwrap()), kind, "kind of {id}");
        assert_eq!(ty.name(), name, "name of {id}");
        for (key, value) in header_fields(&ty) {
            assert_eq!(f.get(key), Some(&value), "{key} of [{id}] {kind} '{name}'");
        }
        match &ty {
            Type::Struct(c) | Type::Union(c) => {
                let ours: Vec<_> = c
                    .members
                    .clone()
                    .map(|m| (m.name.to_string(), m.ty, m.bit_offset, m.bitfield_size))
                    .collect();
                assert_eq!(&ours, dump.members.get(&id).unwrap_or(&Vec::new()), "{id}");
            }
            Type::Enum(e) | Type::Enum64(e) => {
                let wide = matches!(ty, Type::Enum64(_));
                let ours: Vec<_> = e
                    .values
                    .clone()
                    .map(|v| (v.name.to_string(), enum_value_text(v.value, e.signed, wide)))
                    .collect();
                assert_eq!(
                    &ours,
                    dump.enumerators.get(&id).unwrap_or(&Vec::new()),
                    "{id}"
                );
            }
            Type::FuncProto { params, .. } => {
                let ours: Vec<_> = params.clone().map(|p| (p.name.to_string(), p.ty)).collect();
                assert_eq!(&ours, dump.params.get(&id).unwrap_or(&Vec::new()), "{id}");
            }
            _ => {}
        }
    }
}

#[test]
fn struct_lookups_agree_with_bpftool() {
    let Some(dump) = bpftool_dump() else {
        eprintln!("bpftool not available: cross-check skipped");
        return;
    };
    let btf = vmlinux();
    // Every named struct is found by name (the first of that name in id order).
    let mut first_by_name: HashMap<&str, TypeId> = HashMap::new();
    let mut ids: Vec<_> = dump.types.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let (kind, name, _) = &dump.types[&id];
        if kind == "STRUCT" && !name.is_empty() {
            first_by_name.entry(name.as_str()).or_insert(id);
        }
    }
    for (name, id) in &first_by_name {
        let found = btf.find_types_by_name(Kind::Struct, name);
        assert_eq!(found.first(), Some(id), "struct {name}");
        // Each named member is reachable by name at its own offset.
        for (member, _, bits, size) in dump.members.get(id).into_iter().flatten() {
            if member.is_empty() {
                continue;
            }
            let info = btf.member(*id, member).unwrap();
            assert_eq!(
                (info.bit_offset, info.bitfield_size),
                (*bits, *size),
                "{name}.{member}"
            );
        }
    }
}

// ---- module (split) BTF --------------------------------------------------------------------

#[test]
fn loaded_modules_parse_as_split_btf() {
    let modules = Btf::module_names().unwrap();
    eprintln!("modules with BTF: {modules:?}");
    for module in modules {
        let btf = Btf::load_module(&module, vmlinux().clone()).unwrap();
        assert_eq!(btf.first_id(), vmlinux().end_id());
        assert!(btf.end_id() >= btf.first_id());
        // Base types stay reachable through the module.
        let task = btf.find_struct("task_struct").unwrap();
        assert_eq!(btf.member(task, "comm").unwrap().offset, {
            vmlinux().member(task, "comm").unwrap().offset
        });
        for id in btf.first_id()..btf.end_id() {
            assert!(btf.get(id).is_some());
            let _ = btf.type_name(id);
        }
    }
    assert!(Btf::load_module("../vmlinux", vmlinux().clone()).is_err());
}

/// Hand-built BTF, for shapes the kernel does not provide on demand.
#[derive(Default)]
struct Builder {
    types: Vec<u8>,
    strings: Vec<u8>,
    /// Offset of the first string (the base's string size for split BTF).
    str_start: u32,
}

const INT: u32 = 1;
const PTR: u32 = 2;
const ARRAY: u32 = 3;
const STRUCT: u32 = 4;
const UNION: u32 = 5;
const ENUM: u32 = 6;
const TYPEDEF: u32 = 8;
const CONST: u32 = 10;
const FUNC: u32 = 12;
const FUNC_PROTO: u32 = 13;
const ENUM64: u32 = 19;

impl Builder {
    fn new() -> Self {
        Builder {
            strings: vec![0],
            ..Default::default()
        }
    }

    fn split(base_strings: u32) -> Self {
        Builder {
            str_start: base_strings,
            ..Default::default()
        }
    }

    fn name(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.str_start + self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    fn word(&mut self, w: u32) -> &mut Self {
        self.types.extend_from_slice(&w.to_le_bytes());
        self
    }

    fn record(&mut self, name: &str, kind: u32, vlen: u32, kflag: bool, size_or_type: u32) {
        let name = self.name(name);
        let info = (kind << 24) | vlen | (u32::from(kflag) << 31);
        self.word(name).word(info).word(size_or_type);
    }

    fn entry(&mut self, name: &str, words: &[u32]) {
        let name = self.name(name);
        self.word(name);
        for &w in words {
            self.word(w);
        }
    }

    fn bytes(&self) -> Vec<u8> {
        // Magic 0xEB9F little-endian, version 1, flags 0; then header length and sections.
        let mut out = vec![0x9F, 0xEB, 1, 0];
        let types = self.types.len() as u32;
        for w in [24, 0, types, types, self.strings.len() as u32] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// 1 int, 2 char (signed), 3 struct outer { int a; union { int b; struct { int c:3, d:5; }; }; },
/// 4 anonymous union, 5 anonymous struct, 6 int[4], 7 int (*)[4], 8 proto int(int, ...),
/// 9 pointer to 8, 10 typedef loop_a → 11 typedef loop_b → 10, 12 enum sign { NEG = -2 },
/// 13 enum64 big { HUGE = 1 << 40, TOP = u64::MAX }, 14 const 15, 15 ptr to char,
/// 16 func f → 8, 17 int[2][3] (17 → 18 int[3]), 18 int[3], 19 pointer to 14.
fn sample() -> Vec<u8> {
    let mut b = Builder::new();
    b.record("int", INT, 0, false, 4);
    b.word((1 << 24) | 32);
    b.record("char", INT, 0, false, 1);
    b.word((3 << 24) | 8);
    b.record("outer", STRUCT, 2, false, 12);
    b.entry("a", &[1, 0]);
    b.entry("", &[4, 32]);
    b.record("", UNION, 2, false, 8);
    b.entry("b", &[1, 0]);
    b.entry("", &[5, 0]);
    b.record("", STRUCT, 2, true, 4);
    b.entry("c", &[1, 3 << 24]);
    b.entry("d", &[1, (5 << 24) | 3]);
    b.record("", ARRAY, 0, false, 0);
    b.word(1).word(1).word(4);
    b.record("", PTR, 0, false, 6);
    b.record("", FUNC_PROTO, 2, false, 1);
    b.entry("x", &[1]);
    b.entry("", &[0]);
    b.record("", PTR, 0, false, 8);
    b.record("loop_a", TYPEDEF, 0, false, 11);
    b.record("loop_b", TYPEDEF, 0, false, 10);
    b.record("sign", ENUM, 2, true, 4);
    b.entry("NEG", &[(-2i32) as u32]);
    b.entry("ONE", &[1]);
    b.record("big", ENUM64, 2, false, 8);
    b.entry("HUGE", &[0, 1 << 8]);
    b.entry("TOP", &[u32::MAX, u32::MAX]);
    b.record("", CONST, 0, false, 15);
    b.record("", PTR, 0, false, 2);
    b.record("f", FUNC, 1, false, 8);
    b.record("", ARRAY, 0, false, 0);
    b.word(18).word(1).word(2);
    b.record("", ARRAY, 0, false, 0);
    b.word(1).word(1).word(3);
    b.record("", PTR, 0, false, 14);
    b.bytes()
}

#[test]
fn hand_built_btf_members_and_names() {
    let btf = Btf::parse(&sample()).unwrap();
    assert_eq!(btf.end_id(), 20);
    let outer = btf.find_struct("outer").unwrap();
    assert_eq!(outer, 3);
    let b = btf.member(outer, "b").unwrap();
    assert_eq!((b.offset, b.bitfield_size), (4, 0));
    let c = btf.member(outer, "c").unwrap();
    assert_eq!((c.bit_offset, c.bitfield_size), (32, 3));
    let d = btf.member(outer, "d").unwrap();
    assert_eq!((d.bit_offset, d.bitfield_size, d.offset), (35, 5, 4));
    let flat: Vec<&str> = btf.members(outer).unwrap().iter().map(|m| m.name).collect();
    assert_eq!(flat, ["a", "b", "c", "d"]);
    assert_eq!(
        btf.member(outer, "a.x"),
        Err(BtfError::NotComposite("int".into()))
    );
    assert_eq!(btf.size_of(outer), Some(12));
    assert_eq!(btf.type_name(4), "union (anonymous)");
    assert_eq!(btf.type_name(6), "int[4]");
    assert_eq!(btf.size_of(6), Some(16));
    assert_eq!(btf.type_name(7), "int (*)[4]");
    assert_eq!(btf.type_name(9), "int (*)(int, ...)");
    assert_eq!(btf.type_name(16), "int f(int, ...)");
    assert_eq!(btf.type_name(14), "char *const");
    assert_eq!(btf.type_name(19), "char *const *");
    assert_eq!(btf.type_name(17), "int[2][3]");
    assert_eq!(btf.size_of(17), Some(24));
    // Typedef cycles end in None rather than hanging.
    assert_eq!(btf.resolve(10), None);
    assert_eq!(btf.size_of(10), None);
    assert_eq!(btf.type_name(10), "loop_a");
    assert!(btf.member(10, "x").is_err());
    // Signed and 64-bit enums.
    let sign = btf.find_enum("sign").unwrap();
    assert_eq!(btf.enum_name(sign, (-2i64) as u64), Some("NEG"));
    assert_eq!(
        btf.enum_name(sign, 0xFFFF_FFFE),
        Some("NEG"),
        "compared on 32 bits"
    );
    assert_eq!(btf.enumerator("NEG"), Some((sign, -2)));
    let big = btf.find_enum("big").unwrap();
    assert_eq!(btf.enumerator("HUGE"), Some((big, 1 << 40)));
    assert_eq!(btf.enum_name(big, u64::MAX), Some("TOP"));
    assert_eq!(btf.enum_name(big, 0xFFFF_FFFF), None);
    let sig = btf.func_signature("f").unwrap();
    assert!(sig.variadic);
    assert_eq!(sig.params.len(), 1);
    assert_eq!(sig.params[0].name, "x");
}

#[test]
fn split_btf_continues_ids_and_strings() {
    let base = Arc::new(Btf::parse(&sample()).unwrap());
    let base_strings = {
        let data = sample();
        u32::from_le_bytes(data[20..24].try_into().unwrap())
    };
    // 20 struct mod_thing { struct outer o; int n; }, 21 typedef thing_t → 20,
    // 22 pointer to base struct outer, named by a base string.
    let mut b = Builder::split(base_strings);
    b.record("mod_thing", STRUCT, 2, false, 16);
    b.entry("o", &[3, 0]);
    b.entry("n", &[1, 96]);
    b.record("thing_t", TYPEDEF, 0, false, 20);
    // A record whose name is a base string: offset 1 is "int" in the base.
    b.word(1).word(PTR << 24).word(3);
    let module = Btf::parse_split(&b.bytes(), base.clone()).unwrap();
    assert_eq!((module.first_id(), module.end_id()), (20, 23));
    assert_eq!(module.find_struct("mod_thing"), Some(20));
    assert_eq!(
        module.find_struct("outer"),
        Some(3),
        "base types through the module"
    );
    assert_eq!(module.name(22), "int");
    let d = module.member(21, "o.d").unwrap();
    assert_eq!((d.bit_offset, d.bitfield_size), (35, 5));
    assert_eq!(module.member(20, "n").unwrap().offset, 12);
    assert_eq!(module.type_name(21), "thing_t");
    assert_eq!(module.type_name(22), "struct outer *");
    assert_eq!(module.size_of(21), Some(16));
    assert!(module.get(23).is_none());
    assert!(base.get(20).is_none());
    assert_eq!(module.names_of_kind(Kind::Struct).len(), 2);
}

// ---- malformed input -----------------------------------------------------------------------

/// Exercises every query on every id (or a sample) so that a panic anywhere shows up.
fn exercise(btf: &Btf, step: usize) {
    for id in (0..btf.end_id() + 2).step_by(step) {
        let _ = btf.get(id);
        let _ = btf.kind(id);
        let _ = btf.resolve(id);
        let _ = btf.size_of(id);
        let _ = btf.type_name(id);
        let _ = btf.members(id);
        let _ = btf.member(id, "a.b");
        let _ = btf.enum_name(id, 3);
        let _ = btf.proto_signature(id);
    }
    let _ = btf.find_struct("sock");
    let _ = btf.find_struct("outer");
    let _ = btf.func_params("tcp_sendmsg");
    let _ = btf.raw_tracepoint_args("sched_switch");
    let _ = btf.enumerator("SKB_DROP_REASON_NO_SOCKET");
}

/// xorshift64*, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn truncated_input_is_an_error_not_a_panic() {
    let data = sample();
    for len in 0..data.len() {
        let result = Btf::parse(&data[..len]);
        assert!(result.is_err(), "prefix of {len} bytes parsed");
    }
    let real = vmlinux_bytes();
    let mut rng = Rng(0x5EED);
    for _ in 0..20 {
        let len = rng.below(real.len());
        let err = Btf::parse(&real[..len]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    }
    assert!(Btf::parse(b"").is_err());
    assert!(Btf::parse(&[0xEB; 100]).is_err());
}

#[test]
fn garbage_input_never_panics() {
    let clean = sample();
    let mut rng = Rng(0xBAD_F00D);
    for round in 0..3000 {
        let mut data = clean.clone();
        for _ in 0..1 + rng.below(8) {
            // Keep the header valid half of the time so the type walk gets exercised.
            let from = if round % 2 == 0 { 24 } else { 0 };
            let at = from + rng.below(data.len() - from);
            data[at] = rng.next() as u8;
        }
        if let Ok(btf) = Btf::parse(&data) {
            exercise(&btf, 1);
            if let Ok(split) = Btf::parse_split(&data[..], Arc::new(btf)) {
                exercise(&split, 1);
            }
        }
    }
    // Random values in every word of the real type section except the `info` words, so that
    // records still delimit but references, offsets, lengths and names are nonsense.
    let real = vmlinux_bytes();
    let words = non_info_words(real);
    for _ in 0..4 {
        let mut data = real.to_vec();
        for _ in 0..20_000 {
            let at = words[rng.below(words.len())];
            let value = match rng.below(3) {
                0 => rng.next() as u32,
                1 => rng.below(200_000) as u32,
                _ => rng.below(64) as u32,
            };
            data[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        let btf = Btf::parse(&data).unwrap();
        exercise(&btf, 97);
    }
}

/// Byte offsets of all words in the type section of little-endian `data` other than the
/// records' `info` words (record lengths computed independently of the reader).
fn non_info_words(data: &[u8]) -> Vec<usize> {
    let word = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
    let start = 24 + word(8);
    let end = start + word(12);
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let info = word(at + 4);
        let vlen = info & 0xffff;
        let trailing = match (info >> 24) & 0x1f {
            1 | 14 | 17 => 4,
            3 => 12,
            4 | 5 | 15 | 19 => 12 * vlen,
            6 | 13 => 8 * vlen,
            _ => 0,
        };
        let next = at + 12 + trailing;
        out.push(at);
        out.extend((at + 8..next).step_by(4));
        at = next;
    }
    out
}
