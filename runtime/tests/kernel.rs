//! Runtime kernel glue against the real kernel (run as root): programs come from
//! the eBPF back end, compiled from small hand-built IR.
//!
//! Tests share one process, so every probe filters on the calling thread's id.

use rtrace_compiler::bpf::{self, insn, BpfProgram, EmitOptions};
use rtrace_compiler::ir::{
    AggOp, Builtin, Cond, Context, Function, Inst, MapId, MapKind, MapSpec, Mem, Module, Operand,
    Term,
};
use rtrace_compiler::jit::Host;
use rtrace_runtime::attach::{AttachError, AttachTarget, PerfKind, Sample};
use rtrace_runtime::host::UserHost;
use rtrace_runtime::loader::{LoadError, Loaded, Loader};
use rtrace_runtime::maps::MapTable;
use rtrace_runtime::ringbuf::EventReader;
use rtrace_runtime::sys;
use rtrace_stdlib::types::{Type, HIST_BUCKETS};
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

// ---- helpers ----

/// One loader per process, as in rtrace itself.
fn load(elf: &[u8]) -> Result<Loaded, LoadError> {
    static LOADER: OnceLock<Mutex<Loader>> = OnceLock::new();
    let loader = LOADER.get_or_init(|| Mutex::new(Loader::new()));
    loader.lock().unwrap().load(elf)
}

fn map(name: &str, kind: MapKind, key_type: Type, key_size: u32, value_type: Type) -> MapSpec {
    MapSpec {
        name: name.into(),
        kind,
        key_size,
        value_size: value_type.size(),
        max_entries: 1024,
        key_type,
        value_type,
    }
}

fn keyless_count() -> MapSpec {
    MapSpec {
        max_entries: 1,
        ..map("@", MapKind::PerCpuArray, Type::None, 4, Type::Count)
    }
}

fn ring_buffer() -> MapSpec {
    MapSpec {
        name: ".events".into(),
        kind: MapKind::RingBuf,
        key_size: 0,
        value_size: 0,
        max_entries: 256 * 1024,
        key_type: Type::None,
        value_type: Type::None,
    }
}

/// A function whose body (built by `body` into block 1) runs only when the
/// current thread is `tid`.
fn for_thread(
    name: &str,
    context: Context,
    tid: u32,
    body: impl FnOnce(&mut Function, usize),
) -> Function {
    let mut f = Function::new(name, context);
    let cur = f.new_vreg();
    let is_me = f.new_vreg();
    let then = f.new_block();
    let done = f.new_block();
    f.blocks[0].insts = vec![
        Inst::Builtin {
            dst: cur,
            which: Builtin::Tid,
        },
        Inst::Cmp {
            dst: is_me,
            cond: Cond::Eq,
            a: cur,
            b: Operand::Imm(i64::from(tid)),
        },
    ];
    f.blocks[0].term = Term::Branch {
        cond: is_me,
        then,
        els: done,
    };
    f.blocks[then as usize].term = Term::Jump(done);
    body(&mut f, then as usize);
    f
}

fn count_into(map: MapId) -> impl FnOnce(&mut Function, usize) {
    move |f, b| {
        f.blocks[b].insts.push(Inst::MapAgg {
            map,
            key: None,
            op: AggOp::Count,
            val: Operand::Imm(0),
        })
    }
}

/// Compiles every function of `module` with its section name and writes the ELF.
fn build(module: &Module, sections: &[&str]) -> Vec<u8> {
    let programs: Vec<(BpfProgram, String)> = module
        .functions
        .iter()
        .zip(sections)
        .map(|(f, s)| {
            let prog = bpf::emit_function(module, f, &EmitOptions::default())
                .unwrap_or_else(|e| panic!("emit {}: {e}", f.name));
            (prog, s.to_string())
        })
        .collect();
    bpf::write_elf(module, &programs)
}

fn getpid_tracepoint() -> AttachTarget {
    AttachTarget::Tracepoint {
        category: "syscalls".into(),
        name: "sys_enter_getpid".into(),
    }
}

const GETPID_SECTION: &str = "tracepoint/syscalls/sys_enter_getpid";

fn call_getpid(times: usize) {
    for _ in 0..times {
        // SAFETY: getpid has no arguments and no side effects; the raw syscall
        // bypasses any libc caching so each call reaches the tracepoint.
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
}

fn u64_le(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().unwrap())
}

fn sum_u64(values: &[Vec<u8>]) -> u64 {
    values.iter().map(|v| u64_le(v)).sum()
}

/// Total of a keyless count map, as printing would show it (0 if not set).
fn keyless_total(table: &MapTable, id: MapId) -> u64 {
    let entries = table.read_entries(id).unwrap();
    assert!(entries.len() <= 1);
    entries.first().map_or(0, |(key, values)| {
        assert!(key.is_empty());
        sum_u64(values)
    })
}

/// Held by tests that count this process's perf event fds, so other tests'
/// attachments do not change the count under them.
fn fd_counting_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn perf_event_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("perf_event"))
        .count()
}

// ---- tests ----

#[test]
fn tracepoint_counts_getpid_and_detach_stops_it() {
    let tid = sys::gettid();
    let module = Module {
        maps: vec![keyless_count()],
        functions: vec![for_thread(
            "getpid_count",
            Context::Tracepoint,
            tid,
            count_into(0),
        )],
        ..Default::default()
    };
    let mut loaded = load(&build(&module, &[GETPID_SECTION])).unwrap();
    let table = MapTable::from_loaded(&mut loaded, &module.maps).unwrap();
    assert_eq!(
        keyless_total(&table, 0),
        0,
        "an untouched count is not reported"
    );

    let handle = loaded.attach("getpid_count", &getpid_tracepoint()).unwrap();
    assert_eq!(loaded.attachments().len(), 1);
    call_getpid(50);
    assert_eq!(keyless_total(&table, 0), 50);
    let raw = table.read_raw(0).unwrap();
    assert_eq!(raw.name, "@");
    assert_eq!((raw.key_type, raw.value_type), (Type::None, Type::Count));
    assert_eq!(raw.entries.len(), 1);
    assert!(
        raw.entries[0].key.is_empty(),
        "keyless maps have an empty key"
    );
    let values = &raw.entries[0].values;
    assert_eq!(
        values.len(),
        sys::possible_cpus().unwrap(),
        "one value per possible CPU"
    );
    assert_eq!(sum_u64(values), 50);

    assert!(loaded.detach(handle));
    assert!(!loaded.detach(handle), "a second detach finds nothing");
    assert!(loaded.attachments().is_empty());
    call_getpid(20);
    assert_eq!(keyless_total(&table, 0), 50, "nothing counts after detach");
}

#[test]
fn detach_closes_the_kernel_attachment() {
    let tid = sys::gettid();
    let module = Module {
        maps: vec![keyless_count()],
        functions: vec![for_thread(
            "fd_check",
            Context::Tracepoint,
            tid,
            count_into(0),
        )],
        ..Default::default()
    };
    let mut loaded = load(&build(&module, &[GETPID_SECTION])).unwrap();
    let handle = loaded.attach("fd_check", &getpid_tracepoint()).unwrap();
    let prog_fd = loaded.program_fd("fd_check").unwrap();
    let prog_id = {
        use std::os::fd::AsRawFd;
        let fdinfo =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", prog_fd.as_raw_fd())).unwrap();
        let line = fdinfo.lines().find(|l| l.starts_with("prog_id:")).unwrap();
        line.split_whitespace().nth(1).unwrap().to_string()
    };
    let attached_to_us = || {
        let out = std::process::Command::new("bpftool")
            .args(["perf", "list"])
            .output()
            .expect("bpftool is installed");
        let me = format!("pid {}", std::process::id());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.contains(&me) && l.contains(&format!("prog_id {prog_id} ")))
    };
    assert!(attached_to_us(), "bpftool sees the attachment");
    loaded.detach(handle);
    assert!(!attached_to_us(), "bpftool no longer sees it after detach");
}

#[test]
fn histogram_keys_round_trip() {
    let tid = sys::gettid();
    let keyed = MapSpec {
        max_entries: 4096,
        ..map("@h", MapKind::PerCpuHash, Type::U64, 16, Type::Hist)
    };
    let keyless = MapSpec {
        max_entries: HIST_BUCKETS,
        ..map("@k", MapKind::PerCpuArray, Type::None, 4, Type::Hist)
    };
    let body = |f: &mut Function, b: usize| {
        let key = f.new_slot(16);
        let bucket = f.new_slot(8);
        f.blocks[b].insts.extend([
            Inst::Store {
                mem: Mem::at(key, 0),
                src: Operand::Imm(7),
                size: 8,
            },
            Inst::Store {
                mem: Mem::at(key, 8),
                src: Operand::Imm(3),
                size: 8,
            },
            Inst::MapAgg {
                map: 0,
                key: Some(Mem::at(key, 0)),
                op: AggOp::Count,
                val: Operand::Imm(0),
            },
            Inst::Store {
                mem: Mem::at(bucket, 0),
                src: Operand::Imm(5),
                size: 8,
            },
            Inst::MapAgg {
                map: 1,
                key: Some(Mem::at(bucket, 0)),
                op: AggOp::Count,
                val: Operand::Imm(0),
            },
        ]);
    };
    let module = Module {
        maps: vec![keyed, keyless],
        functions: vec![for_thread("hist_keys", Context::Tracepoint, tid, body)],
        ..Default::default()
    };
    let mut loaded = load(&build(&module, &[GETPID_SECTION])).unwrap();
    let table = MapTable::from_loaded(&mut loaded, &module.maps).unwrap();
    loaded.attach("hist_keys", &getpid_tracepoint()).unwrap();
    call_getpid(9);
    loaded.detach_all();

    let keyed = table.read_entries(0).unwrap();
    assert_eq!(keyed.len(), 1);
    let expected_key: Vec<u8> = [7u64.to_le_bytes(), 3u64.to_le_bytes()].concat();
    assert_eq!(keyed[0].0, expected_key, "user key then u64 bucket");
    assert_eq!(sum_u64(&keyed[0].1), 9);

    let keyless = table.read_entries(1).unwrap();
    assert_eq!(keyless.len(), 1, "empty buckets are skipped");
    assert_eq!(
        keyless[0].0,
        5u64.to_le_bytes().to_vec(),
        "the index becomes a u64 bucket"
    );
    assert_eq!(sum_u64(&keyless[0].1), 9);

    // Deleting by the user key alone removes all of that key's buckets.
    assert!(table.delete(0, Some(&7u64.to_le_bytes())).unwrap());
    assert!(table.read_entries(0).unwrap().is_empty());
}

#[test]
fn clear_zero_and_delete() {
    let module = Module {
        maps: vec![
            map("@c", MapKind::PerCpuHash, Type::U64, 8, Type::Count),
            map("@v", MapKind::Hash, Type::U64, 8, Type::U64),
            MapSpec {
                max_entries: 1,
                ..map("@s", MapKind::PerCpuArray, Type::None, 4, Type::Sum)
            },
        ],
        ..Default::default()
    };
    let mut loaded = load(&build(&module, &[])).unwrap();
    let table = MapTable::from_loaded(&mut loaded, &module.maps).unwrap();
    let mut host = UserHost::new(table.clone(), Instant::now());
    for k in 1..=3u64 {
        for _ in 0..k {
            host.map_agg(0, Some(&k.to_le_bytes()), AggOp::Count, 0);
        }
        host.map_write(1, Some(&k.to_le_bytes()), &(k * 100).to_le_bytes());
    }
    host.map_agg(2, None, AggOp::Add, 40);
    host.map_agg(2, None, AggOp::Add, 2);

    let counts = |id| {
        let mut e: Vec<(u64, u64)> = table
            .read_entries(id)
            .unwrap()
            .iter()
            .map(|(k, v)| (u64_le(k), sum_u64(v)))
            .collect();
        e.sort();
        e
    };
    assert_eq!(counts(0), vec![(1, 1), (2, 2), (3, 3)]);
    assert_eq!(counts(1), vec![(1, 100), (2, 200), (3, 300)]);
    let sum = table.read_entries(2).unwrap();
    assert_eq!(sum.len(), 1);
    assert_eq!(u64_le(&sum[0].1[0]), 42, "total on CPU 0");
    assert_eq!(u64_le(&sum[0].1[0][8..]), 2, "count on CPU 0");

    table.zero(0).unwrap();
    assert_eq!(
        counts(0),
        vec![(1, 0), (2, 0), (3, 0)],
        "zero keeps the keys"
    );
    assert!(table.delete(1, Some(&2u64.to_le_bytes())).unwrap());
    assert!(!table.delete(1, Some(&2u64.to_le_bytes())).unwrap());
    assert_eq!(counts(1), vec![(1, 100), (3, 300)]);
    table.clear(1).unwrap();
    assert!(counts(1).is_empty());
    table.clear(2).unwrap();
    assert!(
        table.read_entries(2).unwrap().is_empty(),
        "a cleared keyless sum is unset"
    );
}

#[test]
fn user_host_and_kernel_share_aggregations() {
    let tid = sys::gettid();
    let module = Module {
        maps: vec![
            keyless_count(),
            MapSpec {
                max_entries: 1,
                ..map("@m", MapKind::PerCpuArray, Type::None, 4, Type::Max)
            },
        ],
        functions: vec![for_thread(
            "shared",
            Context::Tracepoint,
            tid,
            count_into(0),
        )],
        ..Default::default()
    };
    let mut loaded = load(&build(&module, &[GETPID_SECTION])).unwrap();
    let table = MapTable::from_loaded(&mut loaded, &module.maps).unwrap();
    let mut host = UserHost::new(table.clone(), Instant::now());
    loaded.attach("shared", &getpid_tracepoint()).unwrap();
    call_getpid(10);
    host.map_agg(0, None, AggOp::Count, 0);
    host.map_agg(0, None, AggOp::Count, 0);
    let raw = table.read_raw(0).unwrap();
    assert_eq!(
        sum_u64(&raw.entries[0].values),
        12,
        "kernel and user space add up"
    );
    assert!(
        u64_le(&raw.entries[0].values[0]) >= 2,
        "user space counts on CPU 0"
    );

    let mut merged = [0u8; 8];
    assert!(host.map_read(0, None, &mut merged));
    assert_eq!(u64::from_le_bytes(merged), 12, "map_read merges the CPUs");

    assert!(
        table.read_entries(1).unwrap().is_empty(),
        "unset max is not reported"
    );
    host.map_agg(1, None, AggOp::Max, -7);
    host.map_agg(1, None, AggOp::Max, -9);
    let mut max = [0u8; 16];
    assert!(host.map_read(1, None, &mut max));
    assert_eq!(u64_le(&max) as i64, -7);
    assert_eq!(u64_le(&max[8..]), 1, "valid flag");
    assert_eq!(table.read_entries(1).unwrap().len(), 1);

    host.map_delete(0, None);
    assert_eq!(keyless_total(&table, 0), 0);
    host.emit(&[1, 2, 3]);
    assert_eq!(host.take_emitted(), vec![vec![1, 2, 3]]);
    assert!(host.take_emitted().is_empty());
}

#[test]
fn ring_buffer_records_arrive_and_waker_interrupts() {
    let tid = sys::gettid();
    let body = |f: &mut Function, b: usize| {
        let rec = f.new_slot(16);
        let t = f.new_vreg();
        f.blocks[b].insts.extend([
            Inst::Store {
                mem: Mem::at(rec, 0),
                src: Operand::Imm(0),
                size: 8,
            },
            Inst::Builtin {
                dst: t,
                which: Builtin::Tid,
            },
            Inst::Store {
                mem: Mem::at(rec, 8),
                src: Operand::Reg(t),
                size: 8,
            },
            Inst::Emit {
                mem: Mem::at(rec, 0),
                len: 16,
            },
        ]);
    };
    let module = Module {
        maps: vec![ring_buffer()],
        functions: vec![for_thread("emitter", Context::Tracepoint, tid, body)],
        ..Default::default()
    };
    let mut loaded = load(&build(&module, &[GETPID_SECTION])).unwrap();
    let mut reader = EventReader::new(&mut loaded, 0).unwrap();
    loaded.attach("emitter", &getpid_tracepoint()).unwrap();
    call_getpid(25);

    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while records.len() < 25 && Instant::now() < deadline {
        reader
            .poll(Some(Duration::from_millis(100)), &mut |r| {
                records.push(r.to_vec())
            })
            .unwrap();
    }
    assert_eq!(records.len(), 25);
    for r in &records {
        assert_eq!(r.len(), 16);
        assert_eq!(u64_le(r), 0, "event id");
        assert_eq!(u64_le(&r[8..]), u64::from(tid));
    }

    // A blocking poll (no timeout) ends as soon as another thread wakes it.
    let waker = reader.waker();
    let woke_at = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        waker.wake();
        Instant::now()
    });
    reader
        .poll(None, &mut |_| panic!("no records expected"))
        .unwrap();
    let returned = Instant::now();
    let woke = woke_at.join().unwrap();
    let latency = returned.saturating_duration_since(woke);
    println!("waker latency: {latency:?}");
    assert!(
        latency < Duration::from_millis(20),
        "woke after {latency:?}"
    );
}

#[test]
fn verifier_rejection_carries_the_log() {
    // r0 = *(u64 *)(ctx + 30000): beyond any tracepoint record (PERF_MAX_TRACE_SIZE).
    let prog = BpfProgram {
        name: "bad_ctx".into(),
        insns: vec![
            insn::ldx(insn::Size::DW, insn::R0, insn::R1, 30000),
            insn::exit(),
        ],
        map_relocs: Vec::new(),
    };
    let elf = bpf::write_elf(&Module::default(), &[(prog, GETPID_SECTION.into())]);
    let err = load(&elf).err().expect("the verifier must refuse");
    let LoadError::Verifier { program, log } = &err else {
        panic!("expected a verifier error, got {err:?}");
    };
    assert_eq!(program, "bad_ctx");
    assert!(log.contains("invalid bpf_context access"), "log: {log}");
    let message = err.to_string();
    println!("{message}");
    assert!(message.starts_with("the kernel's verifier rejected probe bad_ctx: "));
    assert!(message.contains("invalid bpf_context access"));
    assert!(message.ends_with("; run with -v for the full log"));
}

#[test]
fn attach_errors_are_clear_sentences() {
    let ret0 = |name: &str, context| Function::new(name, context);
    let module = Module {
        functions: vec![
            ret0("tp", Context::Tracepoint),
            ret0("kp", Context::Kprobe),
            ret0("pe", Context::PerfEvent),
        ],
        ..Default::default()
    };
    let mut loaded = load(&build(
        &module,
        &[GETPID_SECTION, "kprobe/vfs_read", "perf_event"],
    ))
    .unwrap();

    let missing = AttachTarget::Tracepoint {
        category: "syscalls".into(),
        name: "foo".into(),
    };
    let err = loaded.attach("tp", &missing).unwrap_err();
    assert_eq!(err.to_string(), "tracepoint syscalls:foo does not exist");

    let kprobe = AttachTarget::Kprobe {
        function: "vfs_read".into(),
        offset: 0,
        retprobe: false,
    };
    let kprobes_here = Path::new("/sys/bus/event_source/devices/kprobe").exists();
    match loaded.attach("kp", &kprobe) {
        Ok(handle) => assert!(kprobes_here && loaded.detach(handle)),
        Err(e) => {
            assert!(!kprobes_here, "kprobe PMU exists but attach failed: {e}");
            assert!(matches!(e, AttachError::NoKprobes));
            assert!(e
                .to_string()
                .starts_with("this kernel has no kprobe support (CONFIG_KPROBES is off)"));
        }
    }

    let cycles = AttachTarget::PerfEvent {
        kind: PerfKind::Cycles,
        sample: Sample::Period(1_000_000),
    };
    match loaded.attach("pe", &cycles) {
        Ok(handle) => assert!(loaded.detach(handle), "a PMU exists here"),
        Err(e) => {
            assert!(matches!(e, AttachError::NoHardwareEvent { .. }), "{e:?}");
            assert!(e
                .to_string()
                .starts_with("hardware event cpu-cycles is not available"));
        }
    }

    let wrong = loaded.attach("kp", &getpid_tracepoint()).unwrap_err();
    assert!(matches!(wrong, AttachError::WrongProgramType { .. }));
    let absent = loaded.attach("nope", &getpid_tracepoint()).unwrap_err();
    assert!(matches!(absent, AttachError::NoProgram { .. }));
}

#[test]
fn software_perf_event_samples_on_every_cpu() {
    let tid = sys::gettid();
    let module = Module {
        maps: vec![keyless_count()],
        functions: vec![for_thread(
            "profile",
            Context::PerfEvent,
            tid,
            count_into(0),
        )],
        ..Default::default()
    };
    let mut loaded = load(&build(&module, &["perf_event"])).unwrap();
    let table = MapTable::from_loaded(&mut loaded, &module.maps).unwrap();
    let _serial = fd_counting_lock();
    let before = perf_event_fds();
    let target = AttachTarget::PerfEvent {
        kind: PerfKind::CpuClock,
        sample: Sample::Frequency(999),
    };
    let handle = loaded.attach("profile", &target).unwrap();
    assert_eq!(perf_event_fds() - before, sys::online_cpus().unwrap().len());
    // Busy for a while so samples land on this thread.
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < Duration::from_millis(300) {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
    }
    std::hint::black_box(x);
    loaded.detach(handle);
    assert_eq!(perf_event_fds(), before, "every per-CPU event is closed");
    let samples = keyless_total(&table, 0);
    println!("cpu-clock samples in 300 ms at 999 Hz: {samples}");
    assert!(samples > 10, "only {samples} samples");
}

#[test]
fn raw_tracepoint_attach_and_detach() {
    let tid = sys::gettid();
    let module = Module {
        maps: vec![keyless_count()],
        // A raw_tp context is an array of u64 arguments; the body ignores it.
        functions: vec![for_thread(
            "raw_enter",
            Context::Tracepoint,
            tid,
            count_into(0),
        )],
        ..Default::default()
    };
    let mut loaded = load(&build(&module, &["raw_tp/sys_enter"])).unwrap();
    let table = MapTable::from_loaded(&mut loaded, &module.maps).unwrap();
    let handle = loaded
        .attach(
            "raw_enter",
            &AttachTarget::RawTracepoint {
                name: "sys_enter".into(),
            },
        )
        .unwrap();
    call_getpid(30);
    loaded.detach(handle);
    let counted = keyless_total(&table, 0);
    assert!(
        counted >= 30,
        "every syscall of this thread counts: {counted}"
    );
    call_getpid(30);
    assert_eq!(keyless_total(&table, 0), counted);

    let err = loaded
        .attach(
            "raw_enter",
            &AttachTarget::RawTracepoint {
                name: "no_such_tp".into(),
            },
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "raw tracepoint no_such_tp does not exist");
}

#[test]
fn all_syscall_enter_tracepoints_attach_and_detach() {
    let events = Path::new("/sys/kernel/tracing/events/syscalls");
    let mut names: Vec<String> = std::fs::read_dir(events)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("sys_enter_"))
        .collect();
    names.sort();
    let module = Module {
        functions: (0..names.len())
            .map(|i| Function::new(format!("se{i}"), Context::Tracepoint))
            .collect(),
        ..Default::default()
    };
    let sections: Vec<String> = names
        .iter()
        .map(|n| format!("tracepoint/syscalls/{n}"))
        .collect();
    let section_refs: Vec<&str> = sections.iter().map(String::as_str).collect();
    let _serial = fd_counting_lock();
    let start = Instant::now();
    let mut loaded = load(&build(&module, &section_refs)).unwrap();
    let loaded_in = start.elapsed();

    let start = Instant::now();
    for (i, name) in names.iter().enumerate() {
        let target = AttachTarget::Tracepoint {
            category: "syscalls".into(),
            name: name.clone(),
        };
        loaded.attach(&format!("se{i}"), &target).unwrap();
    }
    let attached_in = start.elapsed();
    assert_eq!(loaded.attachments().len(), names.len());

    let start = Instant::now();
    loaded.detach_all();
    let detached_in = start.elapsed();
    assert!(loaded.attachments().is_empty());
    println!(
        "{} syscalls:sys_enter_* tracepoints: load {loaded_in:?}, attach {attached_in:?}, \
         detach {detached_in:?}",
        names.len()
    );
}

// ---- uprobes on this test binary ----

/// The function the uprobe test probes.
#[no_mangle]
#[inline(never)]
pub extern "C" fn rtrace_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_add(1)
}

/// A USDT-style semaphore: file-backed, writable, counted up by the kernel while
/// a uprobe with `ref_ctr_offset` pointing at it is attached.
#[no_mangle]
#[link_section = ".probes"]
pub static mut RTRACE_TEST_SEMAPHORE: u16 = 0;

fn semaphore() -> u16 {
    // SAFETY: a plain volatile read of a u16 static; only the kernel writes it.
    unsafe { std::ptr::read_volatile(&raw const RTRACE_TEST_SEMAPHORE) }
}

/// The file offset of `symbol` in this executable.
fn file_offset_of(symbol: &str) -> u64 {
    use object::{Object, ObjectSection, ObjectSymbol};
    let data = std::fs::read("/proc/self/exe").unwrap();
    let file = object::File::parse(&*data).unwrap();
    let sym = file
        .symbols()
        .find(|s| s.name() == Ok(symbol))
        .unwrap_or_else(|| panic!("symbol {symbol} not found"));
    let section = file.section_by_index(sym.section_index().unwrap()).unwrap();
    let (section_file_start, _) = section.file_range().unwrap();
    sym.address() - section.address() + section_file_start
}

#[test]
fn uprobe_with_semaphore_counts_calls() {
    let tid = sys::gettid();
    let module = Module {
        maps: vec![keyless_count()],
        functions: vec![for_thread(
            "uprobe_target",
            Context::Kprobe,
            tid,
            count_into(0),
        )],
        ..Default::default()
    };
    let mut loaded = load(&build(&module, &["uprobe"])).unwrap();
    let table = MapTable::from_loaded(&mut loaded, &module.maps).unwrap();
    let target = AttachTarget::Uprobe {
        path: std::fs::read_link("/proc/self/exe").unwrap(),
        offset: file_offset_of("rtrace_uprobe_target"),
        retprobe: false,
        pid: Some(std::process::id() as i32),
        ref_ctr_offset: file_offset_of("RTRACE_TEST_SEMAPHORE"),
    };
    assert_eq!(semaphore(), 0);
    let handle = loaded.attach("uprobe_target", &target).unwrap();
    assert_eq!(semaphore(), 1, "the kernel raised the semaphore");
    for i in 0..15 {
        rtrace_uprobe_target(i);
    }
    loaded.detach(handle);
    assert_eq!(semaphore(), 0, "and lowered it at detach");
    rtrace_uprobe_target(99);
    assert_eq!(keyless_total(&table, 0), 15);

    let missing = AttachTarget::Uprobe {
        path: "/no/such/binary".into(),
        offset: 0,
        retprobe: false,
        pid: None,
        ref_ctr_offset: 0,
    };
    let err = loaded.attach("uprobe_target", &missing).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot attach a uprobe: /no/such/binary does not exist"
    );
}
