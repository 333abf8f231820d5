//! Checker tests through `pipeline::compile`: inferred types of maps, variables,
//! tuples and strings (and the map specs lowering derives from them), the events
//! table, wildcard expansion against the running kernel's tracefs, positional
//! parameters, and every error message with its rendered `file:line:col` and caret.

use rtrace_compiler::ir::{EventSpec, MapKind, MapSpec};
use rtrace_compiler::pipeline::{compile, CompileError, Compiled, Options};
use rtrace_compiler::probes::{Sample, Target};
use rtrace_compiler::typed::{AggFunc, LValue, MapDecl, TExpr, TExprKind, TStmt};
use rtrace_stdlib::types::Type;

const FILE: &str = "test.bt";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn ensure_tracefs() {
    if !std::path::Path::new("/sys/kernel/tracing/events").is_dir() {
        let status = std::process::Command::new("mount")
            .args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"])
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting tracefs failed");
    }
}

fn options(params: &[&str]) -> Options {
    let mut opts = Options::default();
    opts.check.params = params.iter().map(|p| p.to_string()).collect();
    opts
}

fn ok_with(source: &str, params: &[&str]) -> Compiled {
    ensure_tracefs();
    match compile(source, &options(params)) {
        Ok(c) => c,
        Err(e) => panic!(
            "{source:?} should compile:\n{}",
            e.render(FILE, source, false)
        ),
    }
}

fn ok(source: &str) -> Compiled {
    ok_with(source, &[])
}

fn err_with(source: &str, params: &[&str]) -> String {
    ensure_tracefs();
    match compile(source, &options(params)) {
        Ok(_) => panic!("{source:?} should not compile"),
        Err(e @ CompileError::Script(_)) => e.render(FILE, source, false),
        Err(e) => panic!("{source:?}: expected a script error, got {e}"),
    }
}

fn err(source: &str) -> String {
    err_with(source, &[])
}

/// Compare a rendered diagnostic with the expected text, ignoring trailing blank lines.
fn assert_rendered(actual: &str, expected: &str) {
    assert_eq!(
        actual.trim_end(),
        expected.trim_end(),
        "\n--- actual ---\n{actual}\n--- expected ---\n{expected}"
    );
}

/// The checker's declaration and the lowered spec of the map named `name`.
fn map<'a>(c: &'a Compiled, name: &str) -> (&'a MapDecl, &'a MapSpec) {
    let i = c
        .program
        .maps
        .iter()
        .position(|m| m.name == name)
        .unwrap_or_else(|| panic!("no map {name} in {:?}", c.program.maps));
    assert_eq!(
        c.module.maps[i].name, name,
        "map specs follow the typed maps"
    );
    (&c.program.maps[i], &c.module.maps[i])
}

/// (kind, key size, value size, max entries) of a map spec.
fn shape(spec: &MapSpec) -> (MapKind, u32, u32, u32) {
    (spec.kind, spec.key_size, spec.value_size, spec.max_entries)
}

fn str_ty(len: u32) -> Type {
    Type::Str { len }
}

fn int(bits: u8, signed: bool) -> Type {
    Type::Int { bits, signed }
}

/// The value assigned by the `index`-th statement (an `Assign`) of probe `probe`.
fn assigned(c: &Compiled, probe: usize, index: usize) -> &TExpr {
    match &c.program.probes[probe].body[index] {
        TStmt::Assign { value, .. } => value,
        other => panic!("statement {index} is not an assignment: {other:?}"),
    }
}

/// Tracepoint names of a category on this kernel that match `prefix*`, sorted.
fn tracepoints_with_prefix(category: &str, prefix: &str) -> Vec<String> {
    let dir = format!("/sys/kernel/tracing/events/{category}");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("tracefs category")
        .flatten()
        .filter(|e| e.path().join("format").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// Map types and the specs derived from them
// ---------------------------------------------------------------------------------------------

#[test]
fn keyless_count_in_a_kernel_probe_is_a_per_cpu_array() {
    let c = ok("tracepoint:syscalls:sys_enter_read { @ = count(); }");
    let (decl, spec) = map(&c, "@");
    assert_eq!((&decl.key, &decl.value), (&Type::None, &Type::Count));
    assert_eq!(shape(spec), (MapKind::PerCpuArray, 4, 8, 1));
}

#[test]
fn comm_key_is_sixteen_bytes() {
    let c = ok("tracepoint:syscalls:sys_enter_read { @[comm] = count(); }");
    let (decl, spec) = map(&c, "@");
    assert_eq!(decl.key, str_ty(16));
    assert_eq!(shape(spec), (MapKind::PerCpuHash, 16, 8, 4096));
    assert_eq!(spec.key_type, str_ty(16));
    assert_eq!(spec.value_type, Type::Count);
}

#[test]
fn keyed_hist_adds_eight_bytes_for_the_bucket() {
    let c = ok("tracepoint:syscalls:sys_enter_read { @h[pid] = hist(args->count); }");
    let (decl, spec) = map(&c, "@h");
    assert_eq!((&decl.key, &decl.value), (&Type::U32, &Type::Hist));
    assert_eq!(shape(spec), (MapKind::PerCpuHash, 8 + 8, 8, 4096));

    let c = ok("tracepoint:syscalls:sys_enter_read { @h[comm] = hist(args->count); }");
    assert_eq!(
        shape(map(&c, "@h").1),
        (MapKind::PerCpuHash, 16 + 8, 8, 4096)
    );
}

#[test]
fn keyless_hist_and_lhist_are_arrays_of_buckets() {
    let c = ok("tracepoint:syscalls:sys_enter_read { @h = hist(args->count); @l = lhist(args->count, 0, 100, 10); }");
    assert_eq!(shape(map(&c, "@h").1), (MapKind::PerCpuArray, 4, 8, 66));
    let (decl, spec) = map(&c, "@l");
    assert_eq!(
        decl.value,
        Type::Lhist {
            min: 0,
            max: 100,
            step: 10
        }
    );
    // underflow, 10 ranges, overflow
    assert_eq!(shape(spec), (MapKind::PerCpuArray, 4, 8, 12));
}

#[test]
fn two_word_aggregations_have_sixteen_byte_values() {
    let c = ok("tracepoint:syscalls:sys_enter_read { \
        @s = sum(args->count); @a = avg(args->count); @mn = min(args->count); \
        @mx = max(args->count); @st[pid] = stats(args->count); }");
    for (name, ty) in [
        ("@s", Type::Sum),
        ("@a", Type::Avg),
        ("@mn", Type::Min),
        ("@mx", Type::Max),
    ] {
        let (decl, spec) = map(&c, name);
        assert_eq!(decl.value, ty, "{name}");
        assert_eq!(shape(spec), (MapKind::PerCpuArray, 4, 16, 1), "{name}");
    }
    assert_eq!(shape(map(&c, "@st").1), (MapKind::PerCpuHash, 8, 16, 4096));
}

#[test]
fn multi_key_maps_have_tuple_keys() {
    let c = ok("tracepoint:syscalls:sys_enter_read { @b[pid, comm] = sum(args->count); }");
    let (decl, spec) = map(&c, "@b");
    assert_eq!(decl.key, Type::Tuple(vec![Type::U32, str_ty(16)]));
    assert_eq!(shape(spec), (MapKind::PerCpuHash, 24, 16, 4096));

    // A string key that is not a multiple of 8 is padded in the key.
    let c = ok("tracepoint:syscalls:sys_enter_read { @c[\"abc\", 1] = count(); }");
    let (decl, spec) = map(&c, "@c");
    assert_eq!(decl.key, Type::Tuple(vec![str_ty(4), Type::I64]));
    assert_eq!(spec.key_size, 16);
}

#[test]
fn plain_values_are_hash_maps() {
    let c = ok("BEGIN { @x = 1; @y[1] = \"abc\"; @z[comm] = (uint8)7; }");
    let (decl, spec) = map(&c, "@x");
    assert_eq!((&decl.key, &decl.value), (&Type::None, &Type::I64));
    assert_eq!(shape(spec), (MapKind::Hash, 8, 8, 1));
    let (decl, spec) = map(&c, "@y");
    assert_eq!((&decl.key, &decl.value), (&Type::I64, &str_ty(4)));
    assert_eq!(shape(spec), (MapKind::Hash, 8, 8, 4096));
    let (decl, spec) = map(&c, "@z");
    assert_eq!((&decl.key, &decl.value), (&str_ty(16), &int(8, false)));
    assert_eq!(shape(spec), (MapKind::Hash, 16, 8, 4096));
}

#[test]
fn strings_stored_in_one_map_take_the_largest_capacity() {
    let c = ok("BEGIN { @s = \"a\"; } END { @s = \"abcdef\"; }");
    let (decl, spec) = map(&c, "@s");
    assert_eq!(decl.value, str_ty(7));
    assert_eq!(spec.value_size, 8);
}

#[test]
fn tuple_values_and_their_layout() {
    let c = ok("BEGIN { @t = (1, \"ab\", comm); @u[(uint16)3] = (comm, pid); }");
    let (decl, spec) = map(&c, "@t");
    assert_eq!(
        decl.value,
        Type::Tuple(vec![Type::I64, str_ty(3), str_ty(16)])
    );
    // 8 (int) + 8 (string[3] padded) + 16
    assert_eq!(spec.value_size, 32);
    let (decl, spec) = map(&c, "@u");
    assert_eq!(decl.key, int(16, false));
    assert_eq!(decl.value, Type::Tuple(vec![str_ty(16), Type::U32]));
    assert_eq!((spec.key_size, spec.value_size), (8, 24));
}

#[test]
fn map_types_are_inferred_across_probes_regardless_of_order() {
    // @start is read (in the exit probe) before the source assigns it.
    let c = ok("tracepoint:syscalls:sys_exit_read /@start[tid]/ { \
          @ns[comm] = hist(nsecs - @start[tid]); delete(@start[tid]); } \
        tracepoint:syscalls:sys_enter_read { @start[tid] = nsecs; }");
    let (decl, spec) = map(&c, "@start");
    assert_eq!((&decl.key, &decl.value), (&Type::U32, &Type::U64));
    assert_eq!(shape(spec), (MapKind::Hash, 8, 8, 4096));
    assert_eq!(shape(map(&c, "@ns").1), (MapKind::PerCpuHash, 24, 8, 4096));
}

#[test]
fn the_ring_buffer_is_the_last_map() {
    let c = ok("BEGIN { @a = 1; @b = 2; }");
    // @a, @b, the scratch map, the dropped-updates counters, the lost-events
    // counter, the ring buffer.
    assert_eq!(c.module.maps.len(), 6);
    let rb = &c.module.maps[c.ringbuf_map() as usize];
    assert_eq!(rb.kind, MapKind::RingBuf);
    assert_eq!(rb.name, ".events");
    assert!(rb.max_entries.is_power_of_two() && rb.max_entries >= 4096);
}

// ---------------------------------------------------------------------------------------------
// Variables, expressions
// ---------------------------------------------------------------------------------------------

#[test]
fn variable_types() {
    let c = ok(
        "BEGIN { $i = 1; $s = comm; $t = (1, \"a\"); $u = (uint8)300; $p = pid; $k = ksym(0); }",
    );
    assert_eq!(
        c.program.probes[0].vars,
        vec![
            Type::I64,
            str_ty(16),
            Type::Tuple(vec![Type::I64, str_ty(2)]),
            int(8, false),
            Type::U32,
            Type::Ksym,
        ]
    );
}

#[test]
fn let_without_value_is_typed_by_its_first_assignment() {
    let c = ok("BEGIN { let $x; $x = \"hello\"; let $n = 5; }");
    assert_eq!(c.program.probes[0].vars, vec![str_ty(6), Type::I64]);
}

#[test]
fn variable_strings_grow_to_the_largest_assignment() {
    let c = ok("BEGIN { $s = \"ab\"; if (pid > 1) { $s = \"abcdef\"; } printf(\"%s\\n\", $s); }");
    assert_eq!(c.program.probes[0].vars, vec![str_ty(7)]);
    assert_eq!(
        c.program.events,
        vec![EventSpec::Printf {
            format: "%s\n".into(),
            args: vec![str_ty(7)]
        }]
    );
}

#[test]
fn ternary_of_strings_unifies_capacities() {
    let c = ok("BEGIN { $s = pid > 1 ? \"a\" : \"bcd\"; }");
    assert_eq!(c.program.probes[0].vars, vec![str_ty(4)]);
    assert!(matches!(assigned(&c, 0, 0).kind, TExprKind::Ternary { .. }));
}

#[test]
fn arithmetic_follows_c_signedness() {
    let c = ok("BEGIN { $a = 1 + 2; $b = pid + 1; $c = pid + pid; $d = (int8)-1 >> 1; $e = (uint8)200 >> 1; }");
    let vars = &c.program.probes[0].vars;
    assert_eq!(vars[0], Type::I64);
    // unsigned with signed → unsigned 64-bit
    assert_eq!(vars[1], Type::U64);
    assert_eq!(vars[2], Type::U64);
    // `>>` follows the left operand
    assert_eq!(vars[3], Type::I64);
    assert_eq!(vars[4], Type::U64);
    match &assigned(&c, 0, 3).kind {
        TExprKind::Binary { op, .. } => assert_eq!(*op, rtrace_compiler::ir::BinOp::AShr),
        other => panic!("{other:?}"),
    }
    match &assigned(&c, 0, 4).kind {
        TExprKind::Binary { op, .. } => assert_eq!(*op, rtrace_compiler::ir::BinOp::LShr),
        other => panic!("{other:?}"),
    }
}

#[test]
fn casts_have_their_width() {
    let c = ok("BEGIN { $a = (uint8)300; $b = (int16)1; $c = (uint32)1; $d = (int64)1; }");
    assert_eq!(
        c.program.probes[0].vars,
        vec![int(8, false), int(16, true), int(32, false), int(64, true)]
    );
    match &assigned(&c, 0, 0).kind {
        TExprKind::Cast { bits, signed, .. } => assert_eq!((*bits, *signed), (8, false)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn string_comparison_is_a_string_equality() {
    let c = ok("BEGIN { $a = comm == \"bash\"; $b = comm != \"sh\"; }");
    match &assigned(&c, 0, 0).kind {
        TExprKind::StrEq { negate, .. } => assert!(!negate),
        other => panic!("{other:?}"),
    }
    match &assigned(&c, 0, 1).kind {
        TExprKind::StrEq { negate, .. } => assert!(negate),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tuple_fields() {
    let c = ok("BEGIN { $t = (1, \"ab\", comm); $a = $t.1; $b = $t.2; }");
    assert_eq!(c.program.probes[0].vars[1], str_ty(3));
    assert_eq!(c.program.probes[0].vars[2], str_ty(16));
}

#[test]
fn compound_assignments_and_increments_on_maps() {
    let c = ok("BEGIN { @n = 1; @n += 5; @n++; --@n; @k[comm] <<= 2; }");
    let (decl, _) = map(&c, "@n");
    assert_eq!(decl.value, Type::I64);
    match &c.program.probes[0].body[1] {
        TStmt::Assign {
            target: LValue::Map { key: None, .. },
            value,
        } => assert!(matches!(
            value.kind,
            TExprKind::Binary {
                op: rtrace_compiler::ir::BinOp::Add,
                ..
            }
        )),
        other => panic!("{other:?}"),
    }
    match &c.program.probes[0].body[2] {
        TStmt::Expr(TExpr {
            kind:
                TExprKind::IncDec {
                    increment: true,
                    prefix: false,
                    ..
                },
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn builtin_types() {
    let c = ok("tracepoint:syscalls:sys_enter_read { \
        $a = pid; $b = tid; $c = uid; $d = gid; $e = nsecs; $f = elapsed; $g = cpu; \
        $h = rand; $i = cgroup; $j = curtask; $k = comm; $l = probe; }");
    let vars = &c.program.probes[0].vars;
    let expected_scalars = [
        Type::U32,
        Type::U32,
        Type::U64,
        Type::U64,
        Type::U64,
        Type::U64,
        Type::U32,
        Type::U32,
        Type::U64,
    ];
    assert_eq!(vars[..9], expected_scalars);
    // curtask is a kernel pointer to struct task_struct (typed from BTF).
    assert!(
        matches!(vars[9], Type::Ptr { user: false, .. }),
        "{:?}",
        vars[9]
    );
    assert_eq!(vars[10..], [str_ty(16), Type::Probe]);
    assert!(matches!(assigned(&c, 0, 11).kind, TExprKind::ProbeId(0)));
}

#[test]
fn pid_with_parentheses_is_the_builtin() {
    let c = ok("BEGIN { $a = pid(); }");
    assert_eq!(c.program.probes[0].vars, vec![Type::U32]);
}

// ---------------------------------------------------------------------------------------------
// Tracepoint arguments
// ---------------------------------------------------------------------------------------------

#[test]
fn tracepoint_integer_fields_come_from_the_format_file() {
    let c = ok("tracepoint:syscalls:sys_enter_read { $fd = args->fd; $n = args.count; $nr = args->__syscall_nr; }");
    // syscalls: every argument is 8 bytes wide even when declared int.
    match &assigned(&c, 0, 0).kind {
        TExprKind::CtxInt { off, size, .. } => assert_eq!((*off, *size), (16, 8)),
        other => panic!("{other:?}"),
    }
    match &assigned(&c, 0, 1).kind {
        TExprKind::CtxInt { off, size, signed } => {
            assert_eq!((*off, *size, *signed), (32, 8, false))
        }
        other => panic!("{other:?}"),
    }
    match &assigned(&c, 0, 2).kind {
        TExprKind::CtxInt { off, size, signed } => assert_eq!((*off, *size, *signed), (8, 4, true)),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.program.probes[0].vars[2], int(32, true));
}

#[test]
fn char_array_and_data_loc_fields_are_strings() {
    let c = ok("tracepoint:sched:sched_switch { $p = args->prev_comm; $pid = args->prev_pid; }");
    match &assigned(&c, 0, 0).kind {
        TExprKind::CtxCharArray { len, .. } => assert_eq!(*len, 16),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.program.probes[0].vars, vec![str_ty(16), int(32, true)]);

    let c = ok("tracepoint:net:net_dev_queue { @[args->name] = count(); }");
    match &c.program.probes[0].body[0] {
        TStmt::Agg {
            key:
                Some(TExpr {
                    kind: TExprKind::CtxDataLoc { len, .. },
                    ty,
                    ..
                }),
            func: AggFunc::Count,
            ..
        } => {
            assert_eq!(*len, 256);
            assert_eq!(*ty, str_ty(256));
        }
        other => panic!("{other:?}"),
    }
    // str() of a string is the string itself.
    let c = ok("tracepoint:net:net_dev_queue { @[str(args->name)] = count(); }");
    assert_eq!(map(&c, "@").0.key, str_ty(256));
}

#[test]
fn config_max_strlen_sizes_data_loc_strings() {
    let c = ok(
        "config = { max_strlen = 32 } tracepoint:net:net_dev_queue { @[args->name] = count(); }",
    );
    assert_eq!(map(&c, "@").0.key, str_ty(32));
}

#[test]
fn str_of_a_user_pointer_in_a_syscall_reads_user_memory() {
    let c = ok("tracepoint:syscalls:sys_enter_openat { @[str(args->filename)] = count(); @s[str(args->filename, 8)] = count(); }");
    match &c.program.probes[0].body[0] {
        TStmt::Agg {
            key:
                Some(TExpr {
                    kind: TExprKind::ReadStr { user, .. },
                    ..
                }),
            ..
        } => assert!(*user),
        other => panic!("{other:?}"),
    }
    // str(p) is string[256] (255 characters and the NUL) by default, as the
    // brief asks (bpftrace 0.17 used 64; BPFTRACE_STRLEN=64 restores that).
    assert_eq!(map(&c, "@").0.key, str_ty(256));
    // str(p, 8) keeps 8 characters (bpftrace 0.17 prints "/etc/" for str(p, 5)).
    assert_eq!(map(&c, "@s").0.key, str_ty(9));
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

#[test]
fn events_table_in_source_order() {
    let c = ok(
        "BEGIN { printf(\"%d %s %s\\n\", pid, comm, \"x\"); time(); time(\"%H\\n\"); @m[1] = 2; \
        print(@m); print(@m, 5, 10); print(1 + 2); clear(@m); zero(@m); exit(); }",
    );
    let m = map_index(&c, "@m");
    assert_eq!(
        c.program.events,
        vec![
            EventSpec::Printf {
                format: "%d %s %s\n".into(),
                args: vec![Type::U32, str_ty(16), str_ty(2)]
            },
            EventSpec::Time {
                format: "%H:%M:%S\n".into()
            },
            EventSpec::Time {
                format: "%H\n".into()
            },
            EventSpec::PrintMap {
                map: m,
                top: 0,
                div: 1
            },
            EventSpec::PrintMap {
                map: m,
                top: 5,
                div: 10
            },
            EventSpec::PrintValue { ty: Type::I64 },
            EventSpec::Clear { map: m },
            EventSpec::Zero { map: m },
            EventSpec::Exit,
        ]
    );
    assert_eq!(c.module.events, c.program.events);
    // The statements refer to their events by index.
    let ids: Vec<u32> = c.program.probes[0]
        .body
        .iter()
        .filter_map(|s| match s {
            TStmt::Emit { event, .. } | TStmt::Exit { event, .. } => Some(*event),
            _ => None,
        })
        .collect();
    assert_eq!(ids, (0..9).collect::<Vec<u32>>());
}

fn map_index(c: &Compiled, name: &str) -> u32 {
    c.program.maps.iter().position(|m| m.name == name).unwrap() as u32
}

#[test]
fn exit_code_is_an_argument_of_the_exit_event() {
    let c = ok("BEGIN { exit(3); }");
    match &c.program.probes[0].body[0] {
        TStmt::Exit { event, code } => {
            assert_eq!(c.program.events[*event as usize], EventSpec::Exit);
            assert_eq!(code.kind, TExprKind::Int(3));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn printf_escaped_percent_takes_no_argument() {
    let c = ok("BEGIN { printf(\"100%% of %d\\n\", 5); }");
    assert_eq!(
        c.program.events[0],
        EventSpec::Printf {
            format: "100%% of %d\n".into(),
            args: vec![Type::I64]
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Probes: wildcards, kinds, names
// ---------------------------------------------------------------------------------------------

#[test]
fn tracepoint_wildcard_expands_to_every_match() {
    let c = ok("tracepoint:syscalls:sys_enter_read* { @[probe] = count(); }");
    let expected = tracepoints_with_prefix("syscalls", "sys_enter_read");
    assert!(
        expected.len() >= 3,
        "expected read, readv, readlink…: {expected:?}"
    );
    assert!(expected.contains(&"sys_enter_read".to_string()));
    let names: Vec<String> = expected
        .iter()
        .map(|n| format!("tracepoint:syscalls:{n}"))
        .collect();
    assert_eq!(c.program.probe_names, names);
    assert_eq!(c.probe_count(), expected.len());
    for (i, p) in c.program.probes.iter().enumerate() {
        assert_eq!(p.probe_id as usize, i);
        assert_eq!(p.block, 0);
        assert_eq!(
            p.target,
            Target::Tracepoint {
                category: "syscalls".into(),
                name: expected[i].clone()
            }
        );
    }
    // One kernel program per match, each in its own section, with distinct names.
    assert_eq!(c.kernel.len(), expected.len());
    assert_eq!(c.module.functions.len(), expected.len());
    let mut fnames: Vec<&str> = c.kernel.iter().map(|k| k.program.name.as_str()).collect();
    fnames.sort();
    fnames.dedup();
    assert_eq!(fnames.len(), expected.len());
    assert_eq!(
        c.kernel[0].section,
        format!("tracepoint/syscalls/{}", expected[0])
    );
}

#[test]
fn wildcard_in_the_category() {
    let c = ok("tracepoint:sched*:sched_switch { @ = count(); }");
    assert!(c
        .program
        .probe_names
        .contains(&"tracepoint:sched:sched_switch".to_string()));
}

#[test]
fn several_attach_points_and_blocks() {
    let c = ok("BEGIN { @b = 1; } tracepoint:syscalls:sys_enter_read, t:syscalls:sys_enter_write { @[probe] = count(); } END { @e = 1; }");
    assert_eq!(
        c.program.probe_names,
        vec![
            "BEGIN",
            "tracepoint:syscalls:sys_enter_read",
            "tracepoint:syscalls:sys_enter_write",
            "END"
        ]
    );
    let blocks: Vec<usize> = c.program.probes.iter().map(|p| p.block).collect();
    assert_eq!(blocks, vec![0, 1, 1, 2]);
    assert_eq!(c.user, vec![0, 3]);
    let kernel: Vec<usize> = c.kernel.iter().map(|k| k.index).collect();
    assert_eq!(kernel, vec![1, 2]);
}

#[test]
fn probe_kinds_and_sections() {
    let c = ok(
        "interval:s:1 { @i = 1; } interval:500ms { @j = 1; } profile:hz:99 { @p = count(); } \
        software:cpu-clock:100000 { @s = count(); } hardware:cycles { @h = count(); } \
        kprobe:do_sys_openat2 { @k = count(); } kretprobe:do_sys_openat2 { @r = count(); }",
    );
    let targets: Vec<&Target> = c.program.probes.iter().map(|p| &p.target).collect();
    assert_eq!(
        targets[0],
        &Target::Interval {
            period_ns: 1_000_000_000
        }
    );
    assert_eq!(
        targets[1],
        &Target::Interval {
            period_ns: 500_000_000
        }
    );
    assert_eq!(
        targets[2],
        &Target::Profile {
            sample: Sample::Frequency(99)
        }
    );
    assert_eq!(
        targets[3],
        &Target::Software {
            event: "cpu-clock".into(),
            sample: Sample::Period(100_000)
        }
    );
    assert!(matches!(targets[4], Target::Hardware { event, .. } if event == "cycles"));
    assert!(
        matches!(targets[5], Target::Kprobe { function, ret: false, .. } if function == "do_sys_openat2")
    );
    assert!(matches!(targets[6], Target::Kprobe { ret: true, .. }));
    let sections: Vec<&str> = c.kernel.iter().map(|k| k.section.as_str()).collect();
    assert_eq!(
        sections,
        vec![
            "perf_event",
            "perf_event",
            "perf_event",
            "kprobe/do_sys_openat2",
            "kretprobe/do_sys_openat2"
        ]
    );
    assert_eq!(c.user, vec![0, 1]);
}

#[test]
fn kprobe_arguments_and_retval_read_pt_regs() {
    let c = ok(
        "kprobe:vfs_read { $a = arg0; $c = arg2; $f = func; } kretprobe:vfs_read { $r = retval; }",
    );
    match &assigned(&c, 0, 0).kind {
        TExprKind::CtxInt { off, size: 8, .. } => assert_eq!(*off, 112), // rdi
        other => panic!("{other:?}"),
    }
    match &assigned(&c, 0, 1).kind {
        TExprKind::CtxInt { off, .. } => assert_eq!(*off, 96), // rdx
        other => panic!("{other:?}"),
    }
    assert_eq!(c.program.probes[0].vars[2], Type::Ksym);
    match &assigned(&c, 1, 0).kind {
        TExprKind::CtxInt { off, .. } => assert_eq!(*off, 80), // rax
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Positional parameters
// ---------------------------------------------------------------------------------------------

#[test]
fn positional_parameters_in_attach_points() {
    let c = ok_with(
        "tracepoint:syscalls:sys_enter_$1 { @ = count(); } interval:ms:$2 { exit(); }",
        &["getpid", "250"],
    );
    assert_eq!(
        c.program.probe_names,
        vec!["tracepoint:syscalls:sys_enter_getpid", "interval:ms:250"]
    );
    assert_eq!(
        c.program.probes[1].target,
        Target::Interval {
            period_ns: 250_000_000
        }
    );
}

#[test]
fn positional_parameters_in_expressions() {
    let c = ok_with(
        "BEGIN { $n = $1; $s = $2; $c = $#; $h = $3; printf(\"%s\\n\", str($2)); }",
        &["42", "hello", "0x10"],
    );
    assert_eq!(assigned(&c, 0, 0).kind, TExprKind::Int(42));
    assert_eq!(assigned(&c, 0, 1).kind, TExprKind::Str(b"hello".to_vec()));
    assert_eq!(assigned(&c, 0, 2).kind, TExprKind::Int(3));
    assert_eq!(assigned(&c, 0, 3).kind, TExprKind::Int(16));
    assert_eq!(
        c.program.probes[0].vars,
        vec![Type::I64, str_ty(6), Type::I64, Type::I64]
    );
    assert_eq!(
        c.program.events[0],
        EventSpec::Printf {
            format: "%s\n".into(),
            args: vec![str_ty(6)]
        }
    );
}

#[test]
fn positional_count_without_parameters_is_zero() {
    let c = ok("BEGIN { @ = $#; }");
    assert_eq!(assigned(&c, 0, 0).kind, TExprKind::Int(0));
}

#[test]
fn unroll_count_from_a_positional_parameter() {
    let c = ok_with("BEGIN { unroll($1) { @x++; } }", &["3"]);
    match &c.program.probes[0].body[0] {
        TStmt::Unroll { count, body } => {
            assert_eq!(*count, 3);
            assert_eq!(body.len(), 1);
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Errors, rendered with file:line:col and caret
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_function_suggests_a_close_name() {
    let src = "BEGIN {\n  printff(\"x\");\n}";
    assert_rendered(
        &err(src),
        "error: unknown function `printff`
 --> test.bt:2:3
  |
2 |   printff(\"x\");
  |   ^^^^^^^^^^^^ unknown function
  |
  = note: did you mean `printf`?",
    );
}

#[test]
fn unknown_function_with_swapped_letters_suggests_printf() {
    // A transposition is the most common typo; `printf` is the intended name, not `print`.
    let src = "BEGIN { prinft(\"x\"); }";
    let out = err(src);
    assert!(out.contains("error: unknown function `prinft`"), "{out}");
    assert!(out.contains(" --> test.bt:1:9"), "{out}");
    assert!(out.contains("= note: did you mean `printf`?"), "{out}");
}

#[test]
fn unknown_function_without_a_close_name() {
    let out = err("BEGIN { zzzzzzzz(); }");
    assert_rendered(
        &out,
        "error: unknown function `zzzzzzzz`
 --> test.bt:1:9
  |
1 | BEGIN { zzzzzzzz(); }
  |         ^^^^^^^^^^ unknown function
  |
  = note: see `rtrace --help` for the list of functions",
    );
}

#[test]
fn unknown_builtin_suggests_a_close_name() {
    let src = "tracepoint:syscalls:sys_enter_read\n{\n  @[pdi] = count();\n}";
    assert_rendered(
        &err(src),
        "error: unknown identifier `pdi`
 --> test.bt:3:5
  |
3 |   @[pdi] = count();
  |     ^^^ not a builtin
  |
  = note: did you mean `pid`?",
    );
}

#[test]
fn wrong_arity() {
    let src = "BEGIN {\n  $s = str();\n}";
    assert_rendered(
        &err(src),
        "error: str() takes 1 to 2 argument(s) but 0 were given
 --> test.bt:2:8
  |
2 |   $s = str();
  |        ^^^^^ wrong number of arguments",
    );
    let out = err("tracepoint:syscalls:sys_enter_read { @ = count(1); }");
    assert!(
        out.starts_with("error: count() takes 0 argument(s) but 1 were given\n --> test.bt:1:42\n"),
        "{out}"
    );
    let out = err("tracepoint:syscalls:sys_enter_read { @ = hist(); }");
    assert!(
        out.starts_with("error: hist() takes 1 argument(s) but 0 were given\n --> test.bt:1:42\n"),
        "{out}"
    );
}

#[test]
fn map_assigned_int_then_string() {
    let src = "BEGIN {\n  @x = 1;\n  @x = \"a\";\n}";
    assert_rendered(
        &err(src),
        "error: type mismatch for @x: it holds int64 but is assigned string[2]
 --> test.bt:3:8
  |
3 |   @x = \"a\";
  |        ^^^ this is string[2]",
    );
}

#[test]
fn map_aggregation_then_plain_value() {
    let out = err("BEGIN { @x = count(); @x = 1; }");
    assert_rendered(
        &out,
        "error: type mismatch for @x: it holds count but is assigned int64
 --> test.bt:1:28
  |
1 | BEGIN { @x = count(); @x = 1; }
  |                            ^ this is int64",
    );
}

#[test]
fn map_with_inconsistent_keys() {
    let out = err("BEGIN { @[comm] = count(); @[pid] = count(); }");
    assert_rendered(
        &out,
        "error: @ is used with key uint32 here but with key string[16] elsewhere
 --> test.bt:1:28
  |
1 | BEGIN { @[comm] = count(); @[pid] = count(); }
  |                            ^^^^^^ inconsistent key",
    );
    let out = err("BEGIN { @x = 1; } END { @x[1] = 2; }");
    assert!(
        out.starts_with(
            "error: @x is used with key int64 here but with no key elsewhere\n --> test.bt:1:25\n"
        ),
        "{out}"
    );
}

#[test]
fn variable_assigned_int_then_string() {
    let src = "BEGIN {\n  $x = 1;\n  $x = \"s\";\n}";
    assert_rendered(
        &err(src),
        "error: type mismatch: $x holds int64 but is assigned string[2]
 --> test.bt:3:3
  |
3 |   $x = \"s\";
  |   ^^ this is string[2]",
    );
}

#[test]
fn string_compared_with_int() {
    // The parser's span of a parenthesised condition includes the parentheses.
    let src = "BEGIN {\n  if (comm == 1) { exit(); }\n}";
    assert_rendered(
        &err(src),
        "error: cannot compare string[16] with int64
 --> test.bt:2:6
  |
2 |   if (comm == 1) { exit(); }
  |      ^^^^^^^^^^^ mismatched types",
    );
}

#[test]
fn arithmetic_on_a_string() {
    let out = err("BEGIN { $x = comm + 1; }");
    assert_rendered(
        &out,
        "error: the operands of `+` must be integers, found string[16]
 --> test.bt:1:14
  |
1 | BEGIN { $x = comm + 1; }
  |              ^^^^ this is string[16]",
    );
}

#[test]
fn ternary_branches_of_different_types() {
    let out = err("BEGIN { $x = pid ? 1 : \"a\"; }");
    assert_rendered(
        &out,
        "error: the branches of `?:` differ: int64 and string[2]
 --> test.bt:1:14
  |
1 | BEGIN { $x = pid ? 1 : \"a\"; }
  |              ^^^^^^^^^^^^^ mismatched branches",
    );
}

#[test]
fn aggregation_read_in_a_kernel_probe() {
    // A kernel probe sums the per-CPU copies itself (one per-CPU lookup per
    // CPU); user space reads them merged.
    let src =
        "tracepoint:syscalls:sys_enter_read {\n  @x = count();\n  if (@x > 10) { exit(); }\n}\nEND { if (@x > 10) { printf(\"many\\n\"); } }";
    let c = ok(src);
    let per_cpu_reads = |f: &rtrace_compiler::ir::Function| {
        f.blocks
            .iter()
            .flat_map(|b| &b.insts)
            .filter(|i| matches!(i, rtrace_compiler::ir::Inst::MapReadCpu { .. }))
            .count()
    };
    assert_eq!(per_cpu_reads(&c.module.functions[0]), 1);
    assert_eq!(per_cpu_reads(&c.module.functions[1]), 0);
    // hist/lhist/stats still cannot be read as numbers.
    let out = err("tracepoint:syscalls:sys_enter_read { @h = hist(1); if (@h > 1) { exit(); } }");
    assert!(
        out.contains("@h holds hist and cannot be used as a value"),
        "{out}"
    );
}

#[test]
fn aggregation_used_as_a_value() {
    let out = err("tracepoint:syscalls:sys_enter_read { $x = count(); }");
    assert_rendered(
        &out,
        "error: count() can only be assigned to a map, as in @x = count(...)
 --> test.bt:1:43
  |
1 | tracepoint:syscalls:sys_enter_read { $x = count(); }
  |                                           ^^^^^^^ aggregation used as a value",
    );
}

#[test]
fn hist_map_cannot_be_used_as_a_value_even_in_user_space() {
    let out =
        err("tracepoint:syscalls:sys_enter_read { @h = hist(args->count); } END { $x = @h + 1; }");
    assert!(
        out.starts_with("error: @h holds hist and cannot be used as a value\n --> test.bt:1:75\n"),
        "{out}"
    );
}

#[test]
fn unknown_tracepoint() {
    let src = "BEGIN { }\ntracepoint:nope:nope { @ = count(); }";
    assert_rendered(
        &err(src),
        "error: tracepoint `nope:nope` does not exist on this kernel
 --> test.bt:2:1
  |
2 | tracepoint:nope:nope { @ = count(); }
  | ^^^^^^^^^^^^^^^^^^^^ not found
  |
  = note: list them with: rtrace -l 'tracepoint:*'",
    );
    let out = err("tracepoint:syscalls:sys_enter_nope* { }");
    assert!(
        out.starts_with(
            "error: no tracepoint matches `syscalls:sys_enter_nope*`\n --> test.bt:1:1\n"
        ),
        "{out}"
    );
}

#[test]
fn unknown_tracepoint_field_with_suggestion() {
    let src = "tracepoint:syscalls:sys_enter_read {\n  @ = hist(args->cnt);\n}";
    assert_rendered(
        &err(src),
        "error: tracepoint syscalls:sys_enter_read has no field `cnt`
 --> test.bt:2:12
  |
2 |   @ = hist(args->cnt);
  |            ^^^^^^^^^ unknown field
  |
  = note: did you mean `count`? its fields: __syscall_nr, fd, buf, count",
    );
}

#[test]
fn bad_interval_spec() {
    let out = err("interval:xs:1 { exit(); }");
    assert_rendered(
        &out,
        "error: expected `interval:<unit>:<count>` with unit s, ms, us or hz, or `interval:1s`
 --> test.bt:1:1
  |
1 | interval:xs:1 { exit(); }
  | ^^^^^^^^^^^^^",
    );
    let out = err("BEGIN { }\n  interval:s:0 { exit(); }");
    assert_rendered(
        &out,
        "error: interval count must be greater than zero
 --> test.bt:2:3
  |
2 |   interval:s:0 { exit(); }
  |   ^^^^^^^^^^^^",
    );
}

#[test]
fn unknown_probe_type() {
    let out = err("foo:bar { }");
    assert_rendered(
        &out,
        "error: unknown probe type `foo`
 --> test.bt:1:1
  |
1 | foo:bar { }
  | ^^^^^^^ unknown probe type
  |
  = note: known types: BEGIN, END, tracepoint (t), rawtracepoint (rt), interval (i), profile (p), software (s), hardware (h), kprobe (k), kretprobe (kr), uprobe (u), uretprobe (ur), usdt (U)",
    );
}

#[test]
fn unsupported_probe_type_is_not_called_unknown() {
    let out = err("iter:task { }");
    assert!(out.starts_with("error: `iter` probes are not supported yet by this version of rtrace\n --> test.bt:1:1\n"), "{out}");
}

#[test]
fn args_in_begin() {
    let src = "BEGIN {\n  @ = args->x;\n}";
    assert_rendered(
        &err(src),
        "error: `args` is only available in tracepoints
 --> test.bt:2:7
  |
2 |   @ = args->x;
  |       ^^^^ no args here",
    );
}

#[test]
fn break_outside_a_loop() {
    let src = "BEGIN {\n  if (1) {\n    break;\n  }\n}";
    assert_rendered(
        &err(src),
        "error: `break` and `continue` must be inside a loop
 --> test.bt:3:5
  |
3 |     break;
  |     ^^^^^",
    );
    ok("BEGIN { $i = 0; while ($i < 5) { $i++; if ($i == 3) { break; } continue; } }");
}

#[test]
fn unroll_with_a_non_constant() {
    let src = "BEGIN {\n  $n = 2;\n  unroll($n) { @x++; }\n}";
    assert_rendered(
        &err(src),
        "error: unroll needs a constant count from 1 to 100
 --> test.bt:3:9
  |
3 |   unroll($n) { @x++; }
  |         ^^^^ not a constant between 1 and 100",
    );
    let out = err("BEGIN { unroll(101) { @x++; } }");
    assert!(
        out.starts_with("error: unroll needs a constant count from 1 to 100\n"),
        "{out}"
    );
}

#[test]
fn positional_parameter_not_given() {
    let src = "BEGIN {\n  @ = $2;\n}";
    assert_rendered(
        &err_with(src, &["1"]),
        "error: positional parameter $2 is not given
 --> test.bt:2:7
  |
2 |   @ = $2;
  |       ^^ no such parameter
  |
  = note: pass it after the script: rtrace script.rt 1234",
    );
}

#[test]
fn positional_parameter_not_given_in_an_attach_point() {
    let out = err("tracepoint:syscalls:sys_enter_$1 { @ = count(); }");
    assert_rendered(
        &out,
        "error: positional parameter $1 is not given
 --> test.bt:1:1
  |
1 | tracepoint:syscalls:sys_enter_$1 { @ = count(); }
  | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ used here",
    );
}

#[test]
fn missing_positional_in_unroll_is_reported_once() {
    let out = err("BEGIN { unroll($1) { @x++; } }");
    assert_eq!(out.matches("error:").count(), 1, "{out}");
    assert!(
        out.starts_with("error: positional parameter $1 is not given\n"),
        "{out}"
    );
}

#[test]
fn printf_argument_count_mismatch() {
    // bpftrace's wording, prefixed with the function name as stdlib's printf module asks.
    let src = "BEGIN {\n  printf(\"%d %s\\n\", 1);\n}";
    assert_rendered(
        &err(src),
        "error: printf: Not enough arguments for format string (1 supplied, 2 expected)
 --> test.bt:2:3
  |
2 |   printf(\"%d %s\\n\", 1);
  |   ^^^^^^^^^^^^^^^^^^^^ in this printf",
    );
    let out = err("BEGIN { printf(\"%d\\n\", 1, 2); }");
    assert!(
        out.starts_with("error: printf: Too many arguments for format string (2 supplied, 1 expected)\n --> test.bt:1:9\n"),
        "{out}"
    );
}

#[test]
fn printf_argument_type_mismatch() {
    let out = err("BEGIN { printf(\"%d\\n\", comm); }");
    assert!(
        out.starts_with("error: printf: %d specifier expects a value of type integer (string supplied)\n --> test.bt:1:9\n"),
        "{out}"
    );
    // %s prints integers too, as in bpftrace.
    ok("BEGIN { printf(\"%s %s\\n\", comm, pid); }");
}

#[test]
fn printf_format_must_be_a_literal() {
    let out = err("BEGIN { printf(comm); }");
    assert_rendered(
        &out,
        "error: expected a string literal
 --> test.bt:1:16
  |
1 | BEGIN { printf(comm); }
  |                ^^^^ not a string literal",
    );
}

#[test]
fn variable_used_before_assignment() {
    let out = err("BEGIN { @ = $y + 1; }");
    assert_rendered(
        &out,
        "error: variable $y is used before it is assigned
 --> test.bt:1:13
  |
1 | BEGIN { @ = $y + 1; }
  |             ^^ not assigned yet",
    );
}

#[test]
fn increment_of_an_unassigned_variable_is_an_error() {
    // bpftrace rejects reading a scratch variable that was never assigned; `$x++` reads it.
    let out = err("tracepoint:syscalls:sys_enter_read { $x++; }");
    assert!(
        out.starts_with("error: variable $x is used before it is assigned\n --> test.bt:1:38\n"),
        "{out}"
    );
}

#[test]
fn map_read_but_never_assigned() {
    let out = err("BEGIN { @y = @never; }");
    assert_rendered(
        &out,
        "error: map `@never` is read but never assigned
 --> test.bt:1:14
  |
1 | BEGIN { @y = @never; }
  |              ^^^^^^ never assigned",
    );
}

#[test]
fn retval_outside_kretprobe_and_arg_outside_kprobe() {
    let out = err("tracepoint:syscalls:sys_enter_read { @ = retval; }");
    assert!(
        out.starts_with(
            "error: `retval` is only available in kretprobes and uretprobes\n --> test.bt:1:42\n"
        ),
        "{out}"
    );
    let out = err("tracepoint:syscalls:sys_enter_read { @ = arg0; }");
    assert!(
        out.starts_with(
            "error: arg0 is only available in kprobes, uprobes (arg0 to arg5), USDT probes and raw tracepoints\n --> test.bt:1:42\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("= note: tracepoints name their arguments: args->field"),
        "{out}"
    );
}

#[test]
fn lhist_with_bad_bounds() {
    let out = err("tracepoint:syscalls:sys_enter_read { @ = lhist(args->count, 10, 5, 1); }");
    assert!(
        out.starts_with("error: lhist needs 0 <= min < max and step > 0\n --> test.bt:1:42\n"),
        "{out}"
    );
    let out = err("tracepoint:syscalls:sys_enter_read { @ = lhist(args->count, 0, 100, pid); }");
    assert!(
        out.starts_with("error: expected a constant integer\n --> test.bt:1:69\n"),
        "{out}"
    );
}

#[test]
fn unsupported_cast() {
    // Casts to types that are neither integers nor BTF pointers stay errors.
    let out = err("BEGIN { $x = (struct no_such_struct_xyz *)curtask; }");
    assert!(out.contains("no_such_struct_xyz"), "{out}");
    assert!(out.contains(" --> test.bt:1:"), "{out}");
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let src = "BEGIN {\n  @a = 1; @a = \"s\";\n  $b = comm + 1;\n  nope();\n}";
    let out = err(src);
    assert_eq!(out.matches("error:").count(), 3, "{out}");
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with(" --> ")).collect();
    assert_eq!(
        lines,
        vec![" --> test.bt:2:16", " --> test.bt:3:8", " --> test.bt:4:3"]
    );
}

#[test]
fn error_positions_count_characters_not_bytes() {
    // A multi-byte character before the error on the same line.
    let src = "BEGIN { printf(\"é\\n\"); @x = 1; @x = \"a\"; }";
    let out = err(src);
    assert!(out.contains(" --> test.bt:1:37\n"), "{out}");
}

#[test]
fn aggregation_argument_must_be_an_integer() {
    let out = err("tracepoint:syscalls:sys_enter_read { @ = sum(comm); }");
    assert_rendered(
        &out,
        "error: the argument of sum() must be an integer, found string[16]
 --> test.bt:1:46
  |
1 | tracepoint:syscalls:sys_enter_read { @ = sum(comm); }
  |                                              ^^^^ this is string[16]",
    );
}

#[test]
fn aggregation_kinds_cannot_be_mixed_in_one_map() {
    let out = err("tracepoint:syscalls:sys_enter_read { @ = count(); } tracepoint:syscalls:sys_enter_write { @ = sum(args->count); }");
    assert!(
        out.starts_with(
            "error: type mismatch for @: it holds count but is assigned sum\n --> test.bt:1:95\n"
        ),
        "{out}"
    );
    let out = err("tracepoint:syscalls:sys_enter_read { @ = lhist(args->count, 0, 10, 1); @ = lhist(args->count, 0, 20, 1); }");
    assert!(out.starts_with("error: type mismatch for @:"), "{out}");
}

#[test]
fn mixed_signedness_compares_unsigned_like_bpftrace() {
    // bpftrace 0.17 prints 0 for `(uint8)1 > (int8)-1` and `pid > -1`: mixed signedness is unsigned.
    let c = ok("BEGIN { $a = (uint8)1 > (int8)-1; $b = pid > -1; $c = (int8)-1 < (int16)1; }");
    let conds: Vec<rtrace_compiler::ir::Cond> = (0..3)
        .map(|i| match &assigned(&c, 0, i).kind {
            TExprKind::Cmp { cond, .. } => *cond,
            other => panic!("{other:?}"),
        })
        .collect();
    use rtrace_compiler::ir::Cond;
    assert_eq!(conds, vec![Cond::UGt, Cond::UGt, Cond::SLt]);
}

#[test]
fn str_of_a_string_with_a_length_truncates() {
    // bpftrace 0.17 rejects str() of a string; accepting it, the length must still apply.
    let c = ok("BEGIN { $s = str(comm, 4); }");
    assert_eq!(c.program.probes[0].vars, vec![str_ty(5)]);
}

#[test]
fn field_of_a_tracepoint_in_a_wildcard_is_checked_per_match() {
    // sys_enter_read has `count`, so do readv? No: readv has `vlen`. Each match is checked.
    let out = err("tracepoint:syscalls:sys_enter_read* { @ = sum(args->count); }");
    assert!(
        out.contains("error: tracepoint syscalls:sys_enter_readv has no field `count`"),
        "{out}"
    );
    assert!(!out.contains("sys_enter_read has no field"), "{out}");
}

#[test]
fn malformed_tracepoint() {
    let out = err("tracepoint:syscalls { }");
    assert_rendered(
        &out,
        "error: a tracepoint is written `tracepoint:<category>:<name>`
 --> test.bt:1:1
  |
1 | tracepoint:syscalls { }
  | ^^^^^^^^^^^^^^^^^^^ expected category and name",
    );
}

#[test]
fn unknown_software_event() {
    let out = err("software:nope { }");
    assert!(
        out.starts_with("error: unknown software event\n --> test.bt:1:1\n"),
        "{out}"
    );
    assert!(
        out.contains("= note: software events: cpu-clock, cpu, task-clock"),
        "{out}"
    );
}
