//! Kernel types from BTF in the checker and the IR: casts to struct pointers,
//! `->`/`.` through nested and anonymous members, bitfields, arrays, `*p`, `&x`,
//! pointer arithmetic, `curtask`, `sizeof`/`offsetof`, enums, address spaces,
//! BTF-typed raw tracepoint arguments, and the error messages (with spans and
//! "did you mean"). Every offset and size is checked against this machine's
//! kernel BTF through the BTF reader.

use rtrace_compiler::btf::{Btf, MemberInfo, TypeId};
use rtrace_compiler::ir::{Inst, Module};
use rtrace_compiler::pipeline::{compile, CompileError, Compiled, Options};
use rtrace_compiler::typed::{TExpr, TExprKind, TStmt};
use rtrace_stdlib::types::Type;
use std::sync::OnceLock;

const FILE: &str = "test.bt";

fn ensure_tracefs() {
    if !std::path::Path::new("/sys/kernel/tracing/events").is_dir() {
        let _ = std::process::Command::new("mount")
            .args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"])
            .status();
    }
}

fn btf() -> &'static Btf {
    static BTF: OnceLock<Btf> = OnceLock::new();
    BTF.get_or_init(|| Btf::load_vmlinux().expect("kernel BTF"))
}

fn record(name: &str) -> TypeId {
    btf().find_struct(name).expect("struct in BTF")
}

fn member(strukt: &str, path: &str) -> MemberInfo {
    btf().member(record(strukt), path).expect("member in BTF")
}

fn ok(source: &str) -> Compiled {
    ensure_tracefs();
    compile(source, &Options::default()).unwrap_or_else(|e| {
        panic!(
            "{source:?} should compile:\n{}",
            e.render(FILE, source, false)
        )
    })
}

fn err(source: &str) -> String {
    ensure_tracefs();
    match compile(source, &Options::default()) {
        Ok(_) => panic!("{source:?} should not compile"),
        Err(e @ CompileError::Script(_)) => e.render(FILE, source, false),
        Err(e) => panic!("{source:?}: expected a script error, got {e}"),
    }
}

/// The value the `index`-th statement of the first probe assigns.
fn assigned(c: &Compiled, index: usize) -> &TExpr {
    match &c.program.probes[0].body[index] {
        TStmt::Assign { value, .. } => value,
        other => panic!("statement {index} is not an assignment: {other:?}"),
    }
}

/// `addr + k` → (addr, k); anything else → (itself, 0).
fn split_offset(e: &TExpr) -> (&TExpr, i64) {
    match &e.kind {
        TExprKind::Binary {
            op: rtrace_compiler::ir::BinOp::Add,
            lhs,
            rhs,
        } => match rhs.kind {
            TExprKind::Int(k) => (lhs, k),
            _ => (e, 0),
        },
        _ => (e, 0),
    }
}

/// (address, size, signed, user) of a memory read.
fn deref(e: &TExpr) -> (&TExpr, u8, bool, bool) {
    match &e.kind {
        TExprKind::Deref {
            addr,
            size,
            signed,
            user,
        } => (addr, *size, *signed, *user),
        TExprKind::Retype(inner) => deref(inner),
        other => panic!("not a memory read: {other:?}"),
    }
}

fn is_curtask(e: &TExpr) -> bool {
    matches!(
        e.kind,
        TExprKind::Builtin(rtrace_compiler::ir::Builtin::CurTask)
    )
}

/// Count the instructions of the first function matching `pred`.
fn count_insts(m: &Module, pred: impl Fn(&Inst) -> bool) -> usize {
    m.functions[0]
        .blocks
        .iter()
        .flat_map(|b| &b.insts)
        .filter(|i| pred(i))
        .count()
}

fn task_ptr() -> Type {
    Type::Ptr {
        pointee: record("task_struct"),
        user: false,
    }
}

// ---------------------------------------------------------------------------------------------
// Casts, members, chains
// ---------------------------------------------------------------------------------------------

#[test]
fn curtask_is_a_kernel_task_struct_pointer() {
    let c = ok("BEGIN { $t = curtask; @p = curtask; }");
    assert_eq!(c.program.probes[0].vars, vec![task_ptr()]);
    assert_eq!(c.program.maps[0].value, task_ptr());
}

#[test]
fn cast_and_member_through_anonymous_unions() {
    let c = ok(
        "kprobe:f { $d = ((struct sock *)arg0)->__sk_common.skc_dport; \
                $n = ((struct sock *)arg0)->__sk_common.skc_num; }",
    );
    let dport = member("sock", "__sk_common.skc_dport");
    let (addr, size, signed, user) = deref(assigned(&c, 0));
    let (base, off) = split_offset(addr);
    assert_eq!(
        (off, size, signed, user),
        (dport.offset as i64, 2, false, false)
    );
    assert!(matches!(base.kind, TExprKind::Retype(_)), "{base:?}");
    assert_eq!(
        base.ty,
        Type::Ptr {
            pointee: record("sock"),
            user: false
        }
    );
    assert_eq!(
        assigned(&c, 0).ty,
        Type::Int {
            bits: 16,
            signed: false
        }
    );
    let num = member("sock", "__sk_common.skc_num");
    let (addr, size, _, _) = deref(assigned(&c, 1));
    assert_eq!((split_offset(addr).1, size), (num.offset as i64, 2));
}

#[test]
fn dot_and_arrow_are_interchangeable() {
    let a = ok("kprobe:f { $x = curtask->pid; }");
    let b = ok("kprobe:f { $x = curtask.pid; }");
    assert_eq!(assigned(&a, 0).ty, assigned(&b, 0).ty);
    assert_eq!(deref(assigned(&a, 0)).0.kind, deref(assigned(&b, 0)).0.kind);
    let (addr, size, signed, _) = deref(assigned(&a, 0));
    let (base, off) = split_offset(addr);
    assert!(is_curtask(base));
    assert_eq!(
        (off, size, signed),
        (member("task_struct", "pid").offset as i64, 4, true)
    );
}

#[test]
fn chained_pointers_read_each_pointer_once() {
    let c = ok("kprobe:f { $ppid = curtask->real_parent->tgid; }");
    let (addr, size, _, _) = deref(assigned(&c, 0));
    assert_eq!(size, 4);
    let (parent, off) = split_offset(addr);
    assert_eq!(off, member("task_struct", "tgid").offset as i64);
    let (inner, psize, _, _) = deref(parent);
    assert_eq!(psize, 8);
    let (base, poff) = split_offset(inner);
    assert!(is_curtask(base));
    assert_eq!(poff, member("task_struct", "real_parent").offset as i64);
    // Two probe reads in the eBPF function: the pointer, then the field.
    let reads = count_insts(&c.module, |i| matches!(i, Inst::Read { .. }));
    assert_eq!(reads, 2);
}

#[test]
fn variables_and_maps_keep_pointer_types() {
    let c = ok("kprobe:f { $s = (struct sock *)arg0; @s = $s; $port = @s->__sk_common.skc_num; }");
    let ptr = Type::Ptr {
        pointee: record("sock"),
        user: false,
    };
    assert_eq!(c.program.probes[0].vars[0], ptr);
    assert_eq!(c.program.maps[0].value, ptr);
    assert_eq!(
        c.program.probes[0].vars[1],
        Type::Int {
            bits: 16,
            signed: false
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Bitfields, arrays, strings, *p, &x, arithmetic
// ---------------------------------------------------------------------------------------------

#[test]
fn bitfields_are_shifted_and_masked() {
    let info = member("sock", "sk_no_check_tx");
    assert_eq!(info.bitfield_size, 1);
    let c = ok("kprobe:f { $b = ((struct sock *)arg0)->sk_no_check_tx; }");
    let v = assigned(&c, 0);
    let TExprKind::Binary {
        op: rtrace_compiler::ir::BinOp::And,
        lhs,
        rhs,
    } = &v.kind
    else {
        panic!("not masked: {v:?}")
    };
    assert_eq!(rhs.kind, TExprKind::Int(1));
    let shift = info.bit_offset % 8;
    let read = match &lhs.kind {
        TExprKind::Binary {
            op: rtrace_compiler::ir::BinOp::LShr,
            lhs,
            rhs,
        } => {
            assert_eq!(rhs.kind, TExprKind::Int(shift as i64));
            lhs
        }
        _ => {
            assert_eq!(shift, 0);
            lhs
        }
    };
    let (addr, size, _, _) = deref(read);
    assert_eq!((split_offset(addr).1, size), (info.offset as i64, 1));
}

#[test]
fn char_arrays_are_strings_and_can_be_indexed() {
    let comm = member("task_struct", "comm");
    let c = ok("kprobe:f { $c = curtask->comm; $first = curtask->comm[2]; $i = 3; $x = curtask->comm[$i]; }");
    let v = assigned(&c, 0);
    assert_eq!(v.ty, Type::Str { len: 16 });
    let TExprKind::ReadStr { addr, user } = &v.kind else {
        panic!("not a string read: {v:?}")
    };
    assert!(!user);
    assert_eq!(split_offset(addr).1, comm.offset as i64);
    // (The kernel builds with -funsigned-char: BTF's `char` is unsigned.)
    let (addr, size, _, _) = deref(assigned(&c, 1));
    assert_eq!((split_offset(addr).1, size), (comm.offset as i64 + 2, 1));
    // A variable index is added at run time (char elements need no scaling).
    let (addr, _, _, _) = deref(assigned(&c, 3));
    assert!(matches!(
        addr.kind,
        TExprKind::Binary {
            op: rtrace_compiler::ir::BinOp::Add,
            ..
        }
    ));
}

#[test]
fn deref_and_address_of() {
    let comm = member("task_struct", "comm");
    let c = ok("kprobe:f { $p = &curtask->comm[1]; $c = *$p; $w = *(uint32 *)arg0; $q = (struct sock **)arg1; $s = *$q; }");
    let p = assigned(&c, 0);
    assert!(matches!(p.ty, Type::Ptr { user: false, .. }));
    let (base, off) = split_offset(match &p.kind {
        TExprKind::Retype(inner) => inner,
        other => panic!("{other:?}"),
    });
    assert!(is_curtask(base));
    assert_eq!(off, comm.offset as i64 + 1);
    assert_eq!(deref(assigned(&c, 1)).1, 1);
    let (_, size, signed, _) = deref(assigned(&c, 2));
    assert_eq!((size, signed), (4, false));
    // `*` on a `struct sock **` gives a `struct sock *`.
    assert_eq!(
        assigned(&c, 4).ty,
        Type::Ptr {
            pointee: record("sock"),
            user: false
        }
    );
}

#[test]
fn sixty_four_bit_integers_deref_as_u64_and_macros_are_known() {
    // loads.bt: `$avenrun = kaddr("avenrun"); $load1 = *$avenrun;`
    let c = ok("kprobe:f { $a = *arg0; $b = *(arg0 + 8); $c = AF_INET6; $d = TASK_RUNNING; }");
    assert_eq!(deref(assigned(&c, 0)).1, 8);
    let (addr, size, _, user) = deref(assigned(&c, 1));
    assert_eq!((split_offset(addr).1, size, user), (8, 8, false));
    assert_eq!(assigned(&c, 2).kind, TExprKind::Int(10));
    assert_eq!(assigned(&c, 3).kind, TExprKind::Int(0));
}

#[test]
fn pointer_arithmetic_is_scaled_by_the_pointee_size() {
    let size = btf().size_of(record("task_struct")).unwrap() as i64;
    let c = ok("kprobe:f { $t = curtask + 2; $u = curtask - 1; $n = (curtask + 3) - curtask; $w = (uint32 *)arg0 + 5; }");
    let (base, off) = split_offset(assigned(&c, 0));
    assert!(is_curtask(base));
    assert_eq!(off, 2 * size);
    assert_eq!(assigned(&c, 0).ty, task_ptr());
    assert_eq!(split_offset(assigned(&c, 1)).1, -size);
    let n = assigned(&c, 2);
    assert!(matches!(
        n.kind,
        TExprKind::Binary {
            op: rtrace_compiler::ir::BinOp::SDiv,
            ..
        }
    ));
    assert_eq!(split_offset(assigned(&c, 3)).1, 20);
}

// ---------------------------------------------------------------------------------------------
// sizeof, offsetof, enums
// ---------------------------------------------------------------------------------------------

#[test]
fn sizeof_and_offsetof_match_btf() {
    let c = ok("BEGIN { $a = sizeof(struct task_struct); $b = offsetof(struct sock, __sk_common.skc_dport); \
                $c = sizeof(curtask->comm); $d = sizeof(struct sock *); $e = offsetof(struct task_struct, comm); \
                $f = sizeof(*curtask); $g = sizeof(uint16); $h = sizeof(pid_t); }");
    let consts: Vec<i64> = (0..8)
        .map(|i| match assigned(&c, i).kind {
            TExprKind::Int(v) => v,
            ref other => panic!("statement {i}: {other:?}"),
        })
        .collect();
    let task = btf().size_of(record("task_struct")).unwrap() as i64;
    assert_eq!(
        consts,
        vec![
            task,
            member("sock", "__sk_common.skc_dport").offset as i64,
            16,
            8,
            member("task_struct", "comm").offset as i64,
            task,
            2,
            4,
        ]
    );
}

#[test]
fn enums_compare_as_ints_and_keep_their_names() {
    let c = ok("kprobe:f { $s = ((struct sock *)arg0)->sk_socket->state; $is = $s == SS_CONNECTED; @[$s] = count(); }");
    let Type::Enum(def) = &c.program.probes[0].vars[0] else {
        panic!("not an enum: {:?}", c.program.probes[0].vars[0])
    };
    assert_eq!(def.name_of(3), Some("SS_CONNECTED"));
    assert_eq!(def.name_of(0), Some("SS_FREE"));
    assert!(matches!(c.program.maps[0].key, Type::Enum(_)));
    let TExprKind::Cmp { rhs, .. } = &assigned(&c, 1).kind else {
        panic!("not a comparison")
    };
    assert_eq!(rhs.kind, TExprKind::Int(3));
    // printf's %s names it, %d prints the number.
    let c = ok(
        "kprobe:f { $s = ((struct sock *)arg0)->sk_socket->state; printf(\"%s %d\\n\", $s, $s); }",
    );
    let rtrace_compiler::ir::EventSpec::Printf { args, .. } = &c.program.events[0] else {
        panic!("not printf")
    };
    assert!(matches!(args[0], Type::Enum(_)));
    assert!(args[1].is_int());
}

// ---------------------------------------------------------------------------------------------
// Address spaces, raw tracepoint args, C definitions
// ---------------------------------------------------------------------------------------------

#[test]
fn tracepoint_pointer_fields_are_typed_from_their_declaration() {
    // naptime.bt: `args->rqtp->tv_sec` on `struct __kernel_timespec * rqtp`.
    let c =
        ok("tracepoint:syscalls:sys_enter_nanosleep { $s = args->rqtp->tv_sec; $p = args->rqtp; }");
    let (_, size, signed, user) = deref(assigned(&c, 0));
    assert_eq!((size, signed, user), (8, true, true));
    assert_eq!(
        assigned(&c, 1).ty,
        Type::Ptr {
            pointee: record("__kernel_timespec"),
            user: true
        }
    );
    // Kernel tracepoints hold kernel pointers; `void *` needs a cast to be read.
    let c = ok("tracepoint:sock:inet_sock_set_state { $p = args->skaddr; }");
    assert_eq!(
        assigned(&c, 0).ty,
        Type::Ptr {
            pointee: 0,
            user: false
        }
    );
    assert!(
        err("tracepoint:sock:inet_sock_set_state { @ = *args->skaddr; }")
            .starts_with("error: a `void *` cannot be dereferenced")
    );
}

#[test]
fn syscall_pointers_are_user_memory() {
    let c = ok(
        "tracepoint:syscalls:sys_enter_connect { $sa = (struct sockaddr_in *)args->uservaddr; \
                $port = $sa->sin_port; $k = kptr(args->uservaddr); }",
    );
    let (_, size, _, user) = deref(assigned(&c, 1));
    assert_eq!((size, user), (2, true));
    assert!(matches!(assigned(&c, 2).ty, Type::Ptr { user: false, .. }));
    let c = ok(
        "kprobe:f { $u = ((struct sock *)uptr(arg0))->__sk_common.skc_num; $k = curtask->pid; }",
    );
    assert!(deref(assigned(&c, 0)).3);
    assert!(!deref(assigned(&c, 1)).3);
    let reads: Vec<bool> = c.module.functions[0]
        .blocks
        .iter()
        .flat_map(|b| &b.insts)
        .filter_map(|i| match i {
            Inst::Read { user, .. } => Some(*user),
            _ => None,
        })
        .collect();
    assert_eq!(reads, vec![true, false]);
}

#[test]
fn raw_tracepoint_args_are_typed_from_btf() {
    let c = ok("rawtracepoint:sched_switch { $n = args.next; $c = args.next->comm; $st = args.prev_state; $pre = args.preempt; }");
    let params = btf().raw_tracepoint_args("sched_switch").unwrap();
    let names: Vec<&str> = params.iter().map(|p| p.name).collect();
    assert_eq!(names, ["preempt", "prev", "next", "prev_state"]);
    let n = assigned(&c, 0);
    assert_eq!(n.ty, task_ptr());
    let TExprKind::Retype(raw) = &n.kind else {
        panic!("{n:?}")
    };
    assert!(matches!(
        raw.kind,
        TExprKind::CtxInt {
            off: 16,
            size: 8,
            ..
        }
    ));
    assert_eq!(assigned(&c, 1).ty, Type::Str { len: 16 });
    assert_eq!(
        assigned(&c, 2).ty,
        Type::Int {
            bits: 32,
            signed: false
        }
    );
    assert_eq!(
        assigned(&c, 3).ty,
        Type::Int {
            bits: 8,
            signed: false
        }
    );
}

#[test]
fn includes_and_c_definitions_are_accepted() {
    ok(
        "#include <linux/sched.h>\n#include <net/sock.h>\nstruct mine { int a; };\n\
        kprobe:f { @[((struct task_struct *)curtask)->comm] = count(); }",
    );
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

fn assert_rendered(actual: &str, expected: &str) {
    assert_eq!(
        actual.trim_end(),
        expected.trim_end(),
        "\n--- actual ---\n{actual}\n--- expected ---\n{expected}"
    );
}

#[test]
fn unknown_struct_suggests_a_near_name() {
    assert_rendered(
        &err("kprobe:f {\n  $s = (struct sokc *)arg0;\n}"),
        "error: unknown type `struct sokc`
 --> test.bt:2:9
  |
2 |   $s = (struct sokc *)arg0;
  |         ^^^^^^^^^^^^^ not a type this kernel defines
  |
  = note: did you mean `struct sock`?",
    );
}

#[test]
fn unknown_field_points_at_the_field_and_suggests() {
    assert_rendered(
        &err("kprobe:f {\n  @ = ((struct sock *)arg0)->__sk_common.skc_dprt;\n}"),
        "error: `struct sock_common` has no field named `skc_dprt`
 --> test.bt:2:42
  |
2 |   @ = ((struct sock *)arg0)->__sk_common.skc_dprt;
  |                                          ^^^^^^^^ unknown field
  |
  = note: did you mean `skc_dport`?",
    );
}

#[test]
fn casting_a_non_address_to_a_struct_pointer_fails() {
    assert_rendered(
        &err("tracepoint:sock:inet_sock_set_state {\n  $s = (struct sock *)args->newstate;\n}"),
        "error: cannot cast a value of type int32 to `struct sock *`
 --> test.bt:2:23
  |
2 |   $s = (struct sock *)args->newstate;
  |                       ^^^^^^^^^^^^^^ this is int32, not an address
  |
  = note: only pointers and 64-bit integers hold addresses",
    );
    let out = err("kprobe:f { $s = (struct sock *)comm; }");
    assert!(
        out.starts_with("error: cannot cast a value of type string[16] to `struct sock *`"),
        "{out}"
    );
}

#[test]
fn fields_of_integers_need_a_cast() {
    let out = err("kprobe:f { @ = arg0->sk; }");
    assert!(
        out.starts_with("error: cannot read field `sk` of a value of type uint64"),
        "{out}"
    );
    assert!(
        out.contains("cast an address to a struct pointer first"),
        "{out}"
    );
}

#[test]
fn other_kernel_type_errors() {
    let cases = [
        (
            "kprobe:f { @ = *curtask; }",
            "error: `struct task_struct` is too large to copy",
        ),
        (
            "kprobe:f { @ = *(void *)arg0; }",
            "error: a `void *` cannot be dereferenced",
        ),
        (
            "kprobe:f { @ = *(uint32)arg0; }",
            "error: a value of type uint32 cannot be dereferenced",
        ),
        (
            "kprobe:f { @ = curtask->comm[16]; }",
            "error: index 16 is out of bounds for an array of 16",
        ),
        (
            "kprobe:f { @ = curtask->pid->x; }",
            "error: cannot read field `x`: `pid_t` is not a struct or union",
        ),
        (
            "kprobe:f { @ = offsetof(struct sock, __sk_common.nope); }",
            "error: `struct sock_common` has no field named `nope`",
        ),
        (
            "kprobe:f { @ = sizeof(struct no_such_struct_here); }",
            "error: unknown type `struct no_such_struct_here`",
        ),
        (
            "kprobe:f { @ = (struct sock)arg0; }",
            "error: cannot cast a value to `struct sock`",
        ),
        (
            "kprobe:f { $x = 1; @ = &$x; }",
            "error: `&` needs a struct field, an array element or `*p`",
        ),
        (
            "rawtracepoint:sched_switch { @ = args.nxt; }",
            "error: raw tracepoint sched_switch has no argument `nxt`",
        ),
    ];
    for (src, want) in cases {
        let out = err(src);
        assert!(out.starts_with(want), "{src}\n{out}");
    }
    assert!(err("rawtracepoint:sched_switch { @ = args.nxt; }").contains("did you mean `next`?"));
}

/// The u64 context slot a BTF-typed fentry argument or fexit `retval` reads.
fn ctx_slot(e: &TExpr) -> u32 {
    match &e.kind {
        TExprKind::CtxInt { off, size: 8, .. } => *off,
        TExprKind::Retype(inner) | TExprKind::Cast { expr: inner, .. } => ctx_slot(inner),
        other => panic!("not a context slot: {other:?}"),
    }
}

#[test]
fn fentry_args_are_typed_from_the_function_signature() {
    let c = ok("kfunc:tcp_sendmsg { $s = args.size; $k = args.sk; $port = args->sk->__sk_common.skc_num; }");
    assert_eq!(c.kernel.len(), 1);
    assert_eq!(c.kernel[0].section, "fentry/tcp_sendmsg");
    assert_eq!(c.program.probe_names, ["kfunc:tcp_sendmsg"]);
    let size = assigned(&c, 0);
    assert_eq!((ctx_slot(size), size.ty.clone()), (16, Type::U64));
    let sk = assigned(&c, 1);
    assert_eq!(ctx_slot(sk), 0);
    assert!(
        matches!(sk.ty, Type::Ptr { user: false, .. }),
        "{:?}",
        sk.ty
    );
    // skc_num is a u16 inside the anonymous members of sock_common.
    let port = assigned(&c, 2);
    assert_eq!(
        port.ty,
        Type::Int {
            bits: 16,
            signed: false
        }
    );
    let (addr, _, _, user) = deref(port);
    let (base, off) = split_offset(addr);
    assert_eq!(off as u32, member("sock_common", "skc_num").offset);
    assert_eq!(ctx_slot(base), 0);
    assert!(!user);
}

#[test]
fn fexit_retval_is_the_slot_after_the_arguments() {
    let c = ok("fexit:tcp_sendmsg { $r = retval; $s = args.size; }");
    assert_eq!(c.kernel[0].section, "fexit/tcp_sendmsg");
    let r = assigned(&c, 0);
    // tcp_sendmsg(sk, msg, size) returns int.
    assert_eq!(ctx_slot(r), 24);
    assert_eq!(
        r.ty,
        Type::Int {
            bits: 32,
            signed: true
        }
    );
    assert_eq!(ctx_slot(assigned(&c, 1)), 16);
    assert_eq!(
        ok("fr:tcp_sendmsg { @[func] = count(); }").kernel[0].section,
        "fexit/tcp_sendmsg"
    );
}

#[test]
fn fentry_wildcards_expand_over_btf_functions() {
    let c = ok("f:tcp_sendmsg* { @[probe] = count(); }");
    let mut sections: Vec<&str> = c.kernel.iter().map(|k| k.section.as_str()).collect();
    sections.sort();
    assert!(sections.contains(&"fentry/tcp_sendmsg"), "{sections:?}");
    assert!(
        sections.contains(&"fentry/tcp_sendmsg_locked"),
        "{sections:?}"
    );
}

#[test]
fn fentry_errors_name_the_function() {
    let out = err("fr:no_such_kernel_function_x { @ = retval; }");
    assert!(
        out.starts_with(
            "error: no kernel function `no_such_kernel_function_x` in the kernel's BTF"
        ),
        "{out}"
    );
    let out = err("fentry:tcp_sendmsg { @ = args.sz; }");
    assert!(
        out.starts_with("error: tcp_sendmsg has no argument `sz`"),
        "{out}"
    );
    assert!(out.contains("its arguments: sk, msg, size"), "{out}");
    let out = err("fentry:tcp_sendmsg { @ = retval; }");
    assert!(
        out.starts_with("error: `retval` is only available in"),
        "{out}"
    );
    let out = err("fexit:tcp_close { @ = retval; }");
    assert!(out.starts_with("error: tcp_close returns void"), "{out}");
}

#[test]
fn signed_and_enum_bitfields() {
    let depth = member("bpf_reg_state", "iter.depth");
    let state = member("bpf_reg_state", "iter.state");
    assert_eq!((depth.bitfield_size, state.bitfield_size), (30, 2));
    let c = ok(
        "kprobe:f { $d = ((struct bpf_reg_state *)arg0)->iter.depth; \
                $s = ((struct bpf_reg_state *)arg0)->iter.state; }",
    );
    // Signed: shift the field to the top, then arithmetic shift down.
    let d = assigned(&c, 0);
    assert_eq!(
        d.ty,
        Type::Int {
            bits: 32,
            signed: true
        }
    );
    let TExprKind::Binary {
        op: rtrace_compiler::ir::BinOp::AShr,
        lhs,
        rhs,
    } = &d.kind
    else {
        panic!("not sign-extended: {d:?}")
    };
    assert_eq!(rhs.kind, TExprKind::Int(64 - 30));
    let TExprKind::Binary {
        op: rtrace_compiler::ir::BinOp::Shl,
        lhs: read,
        rhs: up,
    } = &lhs.kind
    else {
        panic!("not shifted up: {lhs:?}")
    };
    let shift = depth.bit_offset % 8;
    assert_eq!(up.kind, TExprKind::Int(64 - (shift + 30) as i64));
    let storage = match (shift + 30).div_ceil(8) {
        1 => 1,
        2 => 2,
        3 | 4 => 4,
        _ => 8,
    };
    let (addr, size, signed, _) = deref(read);
    assert_eq!(
        (split_offset(addr).1, size, signed),
        (depth.offset as i64, storage, false)
    );
    // An enum bitfield is masked and keeps its enum type.
    let s = assigned(&c, 1);
    let Type::Enum(def) = &s.ty else {
        panic!("not an enum: {:?}", s.ty)
    };
    assert!(
        def.values
            .iter()
            .any(|(_, n)| n.starts_with("BPF_ITER_STATE")),
        "{def:?}"
    );
}
