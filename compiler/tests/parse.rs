//! Parser tests: AST shapes for every construct, precedence, literals, both action spellings,
//! error messages with their positions, robustness, and the Debian bpftrace tools.

use rtrace_compiler::ast::*;
use rtrace_compiler::diag::{Diagnostic, Diagnostics};
use rtrace_compiler::parse::parse;

// ---------------------------------------------------------------------------------------------
// Helpers: a compact, span-free rendering of the AST so tests can assert whole shapes.
// ---------------------------------------------------------------------------------------------

fn parse_ok(source: &str) -> Program {
    match parse(source) {
        Ok(program) => program,
        Err(d) => panic!("parse failed:\n{}", d.render("test.bt", source, false)),
    }
}

fn parse_err(source: &str) -> Diagnostic {
    match parse(source) {
        Ok(program) => panic!("expected an error for {source:?}, got {program:#?}"),
        Err(d) => d,
    }
}

/// The single probe's body statements rendered, `; `-separated.
fn body(source: &str) -> String {
    let program = parse_ok(source);
    assert_eq!(program.probes.len(), 1, "one probe expected in {source:?}");
    block(&program.probes[0].body)
}

/// One expression, parsed as the value of `$e = <expr>` in a BEGIN block.
fn ex(expr_text: &str) -> String {
    let source = format!("BEGIN {{ $e = {expr_text}; }}");
    let program = parse_ok(&source);
    match &program.probes[0].body.stmts[0].kind {
        StmtKind::Assign { value, .. } => expr(value),
        other => panic!("not an assignment: {other:?}"),
    }
}

fn block(b: &Block) -> String {
    let stmts: Vec<String> = b.stmts.iter().map(stmt).collect();
    format!("{{{}}}", stmts.join("; "))
}

fn stmt(s: &Stmt) -> String {
    match &s.kind {
        StmtKind::Expr(e) => expr(e),
        StmtKind::Assign { target, op, value } => {
            let op = op.map_or(String::new(), |o| o.symbol().to_string());
            format!("({op}= {} {})", expr(target), expr(value))
        }
        StmtKind::Let { name, value } => match value {
            Some(v) => format!("(let ${name} {})", expr(v)),
            None => format!("(let ${name})"),
        },
        StmtKind::If { cond, then, els } => match els {
            Some(e) => format!("(if {} {} {})", expr(cond), block(then), block(e)),
            None => format!("(if {} {})", expr(cond), block(then)),
        },
        StmtKind::Unroll { count, body } => format!("(unroll {} {})", expr(count), block(body)),
        StmtKind::While { cond, body } => format!("(while {} {})", expr(cond), block(body)),
        StmtKind::For { var, iter, body } => match iter {
            ForIter::Map(m) => format!("(for ${var} {} {})", expr(m), block(body)),
            ForIter::Range(a, b) => {
                format!("(for ${var} {}..{} {})", expr(a), expr(b), block(body))
            }
        },
        StmtKind::Break => "break".into(),
        StmtKind::Continue => "continue".into(),
        StmtKind::Return => "return".into(),
        StmtKind::Block(b) => block(b),
    }
}

fn ty(t: &TypeName) -> String {
    let stars = "*".repeat(t.pointer_depth as usize);
    let array = t.array_len.map_or(String::new(), |n| format!("[{n}]"));
    format!("<{}{stars}{array}>", t.base)
}

fn list(items: &[Expr]) -> String {
    items.iter().map(expr).collect::<Vec<_>>().join(" ")
}

fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(n) => n.to_string(),
        ExprKind::Str(bytes) => format!("{:?}", String::from_utf8_lossy(bytes)),
        ExprKind::Ident(name) => name.clone(),
        ExprKind::Var(name) => format!("${name}"),
        ExprKind::Positional(n) => format!("${n}"),
        ExprKind::PositionalCount => "$#".into(),
        ExprKind::Map { name, keys } if keys.is_empty() => format!("@{name}"),
        ExprKind::Map { name, keys } => format!("@{name}[{}]", list(keys)),
        ExprKind::Call { name, args } => format!("{name}({})", list(args)),
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", op.symbol(), expr(lhs), expr(rhs))
        }
        ExprKind::Unary { op, expr: inner } => {
            let sym = match op {
                UnOp::Neg => "neg",
                UnOp::LogNot => "!",
                UnOp::BitNot => "~",
                UnOp::Deref => "deref",
                UnOp::AddrOf => "addr",
            };
            format!("({sym} {})", expr(inner))
        }
        ExprKind::IncDec {
            target,
            increment,
            prefix,
        } => {
            let op = if *increment { "++" } else { "--" };
            if *prefix {
                format!("({op}pre {})", expr(target))
            } else {
                format!("(post{op} {})", expr(target))
            }
        }
        ExprKind::Ternary { cond, then, els } => {
            format!("(? {} {} {})", expr(cond), expr(then), expr(els))
        }
        ExprKind::Field {
            expr: inner,
            field,
            arrow,
        } => format!(
            "({} {} {field})",
            if *arrow { "->" } else { "." },
            expr(inner)
        ),
        ExprKind::Index { expr: inner, index } => format!("([] {} {})", expr(inner), expr(index)),
        ExprKind::TupleIndex { expr: inner, index } => format!("(.{index} {})", expr(inner)),
        ExprKind::Cast { ty: t, expr: inner } => format!("(cast {} {})", ty(t), expr(inner)),
        ExprKind::Tuple(items) => format!("(tuple {})", list(items)),
        ExprKind::Sizeof(SizeofArg::Type(t)) => format!("(sizeof {})", ty(t)),
        ExprKind::Sizeof(SizeofArg::Expr(inner)) => format!("(sizeof {})", expr(inner)),
        ExprKind::Offsetof { ty: t, field } => format!("(offsetof {} {})", ty(t), field.join(".")),
    }
}

/// The program with every span set to zero, to compare two spellings of the same script.
fn without_spans(mut program: Program) -> Program {
    for item in &mut program.config {
        item.span = Span::default();
        zero_expr(&mut item.value);
    }
    program
        .c_definitions
        .iter_mut()
        .for_each(|d| d.span = Span::default());
    for probe in &mut program.probes {
        probe.span = Span::default();
        probe
            .attach_points
            .iter_mut()
            .for_each(|a| a.span = Span::default());
        if let Some(p) = &mut probe.predicate {
            zero_expr(p);
        }
        zero_block(&mut probe.body);
    }
    program
}

fn zero_block(b: &mut Block) {
    b.span = Span::default();
    for s in &mut b.stmts {
        s.span = Span::default();
        match &mut s.kind {
            StmtKind::Expr(e) => zero_expr(e),
            StmtKind::Assign { target, value, .. } => {
                zero_expr(target);
                zero_expr(value);
            }
            StmtKind::Let { value, .. } => value.iter_mut().for_each(zero_expr),
            StmtKind::If { cond, then, els } => {
                zero_expr(cond);
                zero_block(then);
                els.iter_mut().for_each(zero_block);
            }
            StmtKind::Unroll { count: e, body } | StmtKind::While { cond: e, body } => {
                zero_expr(e);
                zero_block(body);
            }
            StmtKind::For { iter, body, .. } => {
                match iter {
                    ForIter::Map(m) => zero_expr(m),
                    ForIter::Range(a, b) => {
                        zero_expr(a);
                        zero_expr(b);
                    }
                }
                zero_block(body);
            }
            StmtKind::Block(inner) => zero_block(inner),
            StmtKind::Break | StmtKind::Continue | StmtKind::Return => {}
        }
    }
}

fn zero_expr(e: &mut Expr) {
    e.span = Span::default();
    match &mut e.kind {
        ExprKind::Map { keys: items, .. }
        | ExprKind::Call { args: items, .. }
        | ExprKind::Tuple(items) => items.iter_mut().for_each(zero_expr),
        ExprKind::Binary { lhs, rhs, .. } => {
            zero_expr(lhs);
            zero_expr(rhs);
        }
        ExprKind::Index { expr, index } => {
            zero_expr(expr);
            zero_expr(index);
        }
        ExprKind::Ternary { cond, then, els } => {
            zero_expr(cond);
            zero_expr(then);
            zero_expr(els);
        }
        ExprKind::Unary { expr, .. }
        | ExprKind::Field { expr, .. }
        | ExprKind::TupleIndex { expr, .. }
        | ExprKind::IncDec { target: expr, .. } => zero_expr(expr),
        ExprKind::Cast { ty, expr } => {
            ty.span = Span::default();
            zero_expr(expr);
        }
        ExprKind::Sizeof(SizeofArg::Type(ty)) | ExprKind::Offsetof { ty, .. } => {
            ty.span = Span::default()
        }
        ExprKind::Sizeof(SizeofArg::Expr(inner)) => zero_expr(inner),
        _ => {}
    }
}

/// The source text a span covers.
fn text(source: &str, span: Span) -> &str {
    &source[span.start..span.end]
}

// ---------------------------------------------------------------------------------------------
// Program structure
// ---------------------------------------------------------------------------------------------

#[test]
fn probe_with_predicate_and_body() {
    let src = "kprobe:vfs_read /pid == 42/ { @reads = count(); }";
    let program = parse_ok(src);
    let probe = &program.probes[0];
    assert_eq!(probe.attach_points[0].text, "kprobe:vfs_read");
    assert_eq!(expr(probe.predicate.as_ref().unwrap()), "(== pid 42)");
    assert_eq!(block(&probe.body), "{(= @reads count())}");
    assert_eq!(text(src, probe.span), src);
    assert_eq!(text(src, probe.body.span), "{ @reads = count(); }");
}

#[test]
fn several_probes_and_empty_bodies() {
    let program = parse_ok("BEGIN { } END {} i:s:1 { exit() }");
    let names: Vec<_> = program
        .probes
        .iter()
        .map(|p| p.attach_points[0].text.as_str())
        .collect();
    assert_eq!(names, ["BEGIN", "END", "i:s:1"]);
    assert!(program.probes[0].body.stmts.is_empty());
    assert_eq!(block(&program.probes[2].body), "{exit()}");
}

#[test]
fn attach_points_are_kept_verbatim() {
    let points = [
        "BEGIN",
        "END",
        "tracepoint:syscalls:sys_enter_*",
        "t:sched:sched_switch",
        "kprobe:tcp_sendmsg+0x10",
        "k:tcp_*",
        "interval:s:1",
        "interval:1s",
        "profile:hz:99",
        "uprobe:/bin/bash:readline",
        "uretprobe:libc:getaddrinfo",
        "usdt:/usr/lib/postgresql/15/bin/postgres:query__start",
        "usdt:$1:query__start",
        "uprobe:\"/path with:colon\":func",
        "software:cpu-clock:1000",
        "hardware:cycles",
        "kfunc:vmlinux:tcp_sendmsg",
        "u:./a.out:0x1234",
        "uprobe:/usr/lib/libc.so.6:mal?oc",
        "uprobe:../build/app:main",
        "kprobe:vfs_*read*",
    ];
    for point in points {
        let src = format!("{point} {{ @ = count(); }}");
        let program = parse_ok(&src);
        let ap = &program.probes[0].attach_points[0];
        assert_eq!(ap.text, point);
        assert_eq!(text(&src, ap.span), point);
    }
}

#[test]
fn predicate_directly_after_path_attach_point() {
    let program = parse_ok("uprobe:/bin/bash:readline/pid == 1/ { }");
    assert_eq!(
        program.probes[0].attach_points[0].text,
        "uprobe:/bin/bash:readline"
    );
    assert_eq!(
        expr(program.probes[0].predicate.as_ref().unwrap()),
        "(== pid 1)"
    );
}

#[test]
fn multi_line_attach_point_lists() {
    let src = "tracepoint:syscalls:sys_enter_open,\n  tracepoint:syscalls:sys_enter_openat ,\n\tkprobe:f, // comment\n  kprobe:g\n/comm == \"bash\"/\n{ @[probe] = count(); }";
    let program = parse_ok(src);
    let points: Vec<_> = program.probes[0]
        .attach_points
        .iter()
        .map(|a| a.text.as_str())
        .collect();
    assert_eq!(
        points,
        [
            "tracepoint:syscalls:sys_enter_open",
            "tracepoint:syscalls:sys_enter_openat",
            "kprobe:f",
            "kprobe:g"
        ]
    );
    assert_eq!(
        expr(program.probes[0].predicate.as_ref().unwrap()),
        "(== comm \"bash\")"
    );
    assert_eq!(block(&program.probes[0].body), "{(= @[probe] count())}");
}

#[test]
fn shebang_comments_and_c_definitions() {
    let src = r#"#!/usr/bin/env bpftrace
/*
 * A header comment { with braces } and "quotes
 */
#ifndef BPFTRACE_HAVE_BTF
#include <linux/sched.h>
#include <net/sock.h>
#else
#include <sys/socket.h>
#endif
#define LONG_MACRO(x) \
    ((x) + 1)

struct nameidata {
    struct path path; // a comment }
    struct qstr last;
    int flags[2];
};
union u { int a; long b; };
enum e { A = 1, B };
typedef struct { int x; } pair_t;
struct no_semicolon {
    unsigned int nr_running;
}

BEGIN // trailing comment
{
    /* inline */ printf("hi\n"); // another
}
"#;
    let program = parse_ok(src);
    let defs: Vec<&str> = program
        .c_definitions
        .iter()
        .map(|d| {
            assert_eq!(d.text, text(src, d.span), "the text is the span's");
            d.text.as_str()
        })
        .collect();
    assert_eq!(defs.len(), 12);
    assert_eq!(defs[0], "#ifndef BPFTRACE_HAVE_BTF");
    assert_eq!(defs[1], "#include <linux/sched.h>");
    assert_eq!(defs[6], "#define LONG_MACRO(x) \\\n    ((x) + 1)");
    assert!(defs[7].starts_with("struct nameidata {") && defs[7].ends_with("};"));
    assert_eq!(defs[8], "union u { int a; long b; };");
    assert_eq!(defs[9], "enum e { A = 1, B };");
    assert_eq!(defs[10], "typedef struct { int x; } pair_t;");
    assert_eq!(
        defs[11],
        "struct no_semicolon {\n    unsigned int nr_running;\n}"
    );
    assert_eq!(program.probes.len(), 1);
    assert_eq!(block(&program.probes[0].body), "{printf(\"hi\\n\")}");
}

#[test]
fn positional_count_is_not_a_directive() {
    assert_eq!(body("BEGIN {\n  $n = $#;\n}"), "{(= $n $#)}");
}

#[test]
fn config_block() {
    let src =
        "config = { max_strlen = 128; stack_mode = perf; missing_probes = \"warn\" }\nBEGIN { }";
    let program = parse_ok(src);
    let items: Vec<_> = program
        .config
        .iter()
        .map(|c| (c.key.as_str(), expr(&c.value)))
        .collect();
    assert_eq!(
        items,
        [
            ("max_strlen", "128".to_string()),
            ("stack_mode", "perf".to_string()),
            ("missing_probes", "\"warn\"".to_string())
        ]
    );
    assert_eq!(text(src, program.config[0].span), "max_strlen = 128");
    assert_eq!(parse_ok("config = { } BEGIN {}").config.len(), 0);
    assert_eq!(parse_ok("config = { a = 1; } BEGIN {}").config.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Action blocks: `{ }` and `< >`
// ---------------------------------------------------------------------------------------------

#[test]
fn angle_action_matches_brace_action() {
    let pairs = [
        ("kprobe:tcp_sendmsg { @s = hist(arg2) }", "kprobe:tcp_sendmsg < @s = hist(arg2) >"),
        ("k:f{@s=hist(arg2)}", "k:f<@s=hist(arg2)>"),
        (
            "k:f /pid > 1/ { $x = (arg0 > 5); if (arg1 > 2) { @a = 1 } else { @b = 2 } @c[comm] = count(); }",
            "k:f /pid > 1/ < $x = (arg0 > 5); if (arg1 > 2) { @a = 1 } else { @b = 2 } @c[comm] = count(); >",
        ),
        (
            "BEGIN { $a = 8 >> 1; $b = $a >= 2; $c = args->count; $a >>= 1; $d = @m[$a > 1]; }",
            "BEGIN < $a = 8 >> 1; $b = $a >= 2; $c = args->count; $a >>= 1; $d = @m[$a > 1]; >",
        ),
        (
            "i:s:1 { if $x > 1 { exit() } while ($i > 0) { $i-- } }",
            "i:s:1 < if $x > 1 { exit() } while ($i > 0) { $i-- } >",
        ),
        ("BEGIN { @x = 1 > 0 ? 2 : 3 }", "BEGIN < @x = (1 > 0) ? 2 : 3 >"),
        ("BEGIN { } END { }", "BEGIN < > END < >"),
    ];
    for (brace, angle) in pairs {
        let a = without_spans(parse_ok(brace));
        let b = without_spans(parse_ok(angle));
        if brace.contains("1 > 0 ?") {
            // Same shape once the comparison is parenthesised.
            assert_eq!(block(&a.probes[0].body), block(&b.probes[0].body));
        } else {
            assert_eq!(a, b, "{brace} vs {angle}");
        }
    }
}

#[test]
fn angle_action_followed_by_more_probes() {
    let program = parse_ok("k:f < @x = count() >\nk:g < @y = 1; >\n// end\nEND { }");
    assert_eq!(program.probes.len(), 3);
    assert_eq!(block(&program.probes[1].body), "{(= @y 1)}");
}

#[test]
fn angle_action_top_level_gt_is_an_error_with_advice() {
    let d = parse_err("k:f < @x = $a > 1 >");
    assert_eq!(d.message, "ambiguous `>` in a `< ... >` action");
    assert_eq!(d.span, Span::new(14, 15));
    assert!(d.notes[0].contains("(a > b)"));
}

// ---------------------------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------------------------

#[test]
fn assignments_and_compound_assignments() {
    assert_eq!(
        body("BEGIN { $x = 1; @m[1, \"a\"] = 2; @m = 3; @ = 4; @[tid] = 5 }"),
        "{(= $x 1); (= @m[1 \"a\"] 2); (= @m 3); (= @ 4); (= @[tid] 5)}"
    );
    let ops = ["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"];
    for op in ops {
        let src = format!("BEGIN {{ $x {op}= 2 }}");
        assert_eq!(body(&src), format!("{{({op}= $x 2)}}"));
    }
}

#[test]
fn separators_and_empty_statements() {
    assert_eq!(
        body("BEGIN { ;; $a = 1;; ; $b = 2 }"),
        "{(= $a 1); (= $b 2)}"
    );
    assert_eq!(body("BEGIN { $a = 1; }"), "{(= $a 1)}");
    assert_eq!(body("BEGIN { if (1) { } $a = 1 }"), "{(if 1 {}); (= $a 1)}");
    assert_eq!(body("BEGIN { { $a = 1 } { } }"), "{{(= $a 1)}; {}}");
}

#[test]
fn let_statements() {
    assert_eq!(
        body("BEGIN { let $x; let $y = 5; }"),
        "{(let $x); (let $y 5)}"
    );
}

#[test]
fn if_else_chains() {
    assert_eq!(
        body("BEGIN { if (pid == 1) { @a = 1 } }"),
        "{(if (== pid 1) {(= @a 1)})}"
    );
    assert_eq!(
        body("BEGIN { if ($x) { @a = 1 } else if ($y) { @b = 1 } else if $z { @c = 1 } else { @d = 1 } }"),
        "{(if $x {(= @a 1)} {(if $y {(= @b 1)} {(if $z {(= @c 1)} {(= @d 1)})})})}"
    );
    // Without parentheses, as newer bpftrace allows.
    assert_eq!(
        body("BEGIN { if $x > 1 && pid { exit(); } }"),
        "{(if (&& (> $x 1) pid) {exit()})}"
    );
    // `else if` is an else block holding one If statement whose span starts at `else`.
    let src = "BEGIN { if (a) { } else if (b) { } }";
    let program = parse_ok(src);
    let StmtKind::If { els: Some(els), .. } = &program.probes[0].body.stmts[0].kind else {
        panic!("not an if");
    };
    assert_eq!(els.stmts.len(), 1);
    assert_eq!(text(src, els.span), "else if (b) { }");
}

#[test]
fn loops_and_jumps() {
    assert_eq!(
        body("BEGIN { unroll (3) { @x++; } while ($i < 10) { $i++; if ($i == 5) { break } continue; } return; }"),
        "{(unroll 3 {(post++ @x)}); (while (< $i 10) {(post++ $i); (if (== $i 5) {break}); continue}); return}"
    );
    assert_eq!(
        body("BEGIN { for ($kv : @map) { print($kv.0); } for ($i : 0..10) { } for ($j : $a..$b + 1) { } }"),
        "{(for $kv @map {print((.0 $kv))}); (for $i 0..10 {}); (for $j $a..(+ $b 1) {})}"
    );
    // Without parentheses, as current bpftrace tools write it.
    assert_eq!(
        body("BEGIN { for $j : ((uint64)0)..((uint64)$n) { break; } for $kv : @m { } }"),
        "{(for $j (cast <uint64> 0)..(cast <uint64> $n) {break}); (for $kv @m {})}"
    );
}

#[test]
fn statement_spans() {
    let src = "BEGIN { $x = 1 + 2; @y[comm] += 3 ; }";
    let program = parse_ok(src);
    let stmts = &program.probes[0].body.stmts;
    assert_eq!(text(src, stmts[0].span), "$x = 1 + 2");
    assert_eq!(text(src, stmts[1].span), "@y[comm] += 3");
    let StmtKind::Assign { target, value, .. } = &stmts[1].kind else {
        panic!()
    };
    assert_eq!(text(src, target.span), "@y[comm]");
    assert_eq!(text(src, value.span), "3");
}

// ---------------------------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------------------------

#[test]
fn c_operator_precedence() {
    let cases = [
        ("1 + 2 * 3", "(+ 1 (* 2 3))"),
        ("1 * 2 + 3", "(+ (* 1 2) 3)"),
        ("1 - 2 - 3", "(- (- 1 2) 3)"),
        ("8 / 4 / 2", "(/ (/ 8 4) 2)"),
        ("1 + 2 % 3", "(+ 1 (% 2 3))"),
        ("1 << 2 + 3", "(<< 1 (+ 2 3))"),
        ("1 < 2 << 3", "(< 1 (<< 2 3))"),
        ("1 == 2 < 3", "(== 1 (< 2 3))"),
        ("1 & 2 == 3", "(& 1 (== 2 3))"),
        ("1 ^ 2 & 3", "(^ 1 (& 2 3))"),
        ("1 | 2 ^ 3", "(| 1 (^ 2 3))"),
        ("1 && 2 | 3", "(&& 1 (| 2 3))"),
        ("1 || 2 && 3", "(|| 1 (&& 2 3))"),
        (
            "a || b && c == d + e * f",
            "(|| a (&& b (== c (+ d (* e f)))))",
        ),
        ("1 != 2 >= 3 <= 4 > 5", "(!= 1 (> (<= (>= 2 3) 4) 5))"),
        ("(1 + 2) * 3", "(* (+ 1 2) 3)"),
        ("1 >> 2 >> 3", "(>> (>> 1 2) 3)"),
        ("c ? a : b", "(? c a b)"),
        ("c || d ? a + 1 : b", "(? (|| c d) (+ a 1) b)"),
        ("a ? b : c ? d : e", "(? a b (? c d e))"),
        ("a ? b ? 1 : 2 : 3", "(? a (? b 1 2) 3)"),
        ("-a * b", "(* (neg a) b)"),
        ("!a && ~b", "(&& (! a) (~ b))"),
        ("-a.b", "(neg (. a b))"),
        ("*p + 1", "(+ (deref p) 1)"),
        ("&x", "(addr x)"),
        ("- -1", "(neg (neg 1))"),
        ("!!x", "(! (! x))"),
    ];
    for (input, expected) in cases {
        assert_eq!(ex(input), expected, "{input}");
    }
}

#[test]
fn increments_and_decrements() {
    assert_eq!(
        body("BEGIN { $x++; $x--; ++$x; --$x; @m[1]++; ++@c }"),
        "{(post++ $x); (post-- $x); (++pre $x); (--pre $x); (post++ @m[1]); (++pre @c)}"
    );
    assert_eq!(ex("$x++ + 1"), "(+ (post++ $x) 1)");
    assert_eq!(ex("$a - -$b"), "(- $a (neg $b))");
}

#[test]
fn operands() {
    let cases = [
        ("pid", "pid"),
        ("$var_1", "$var_1"),
        ("$1", "$1"),
        ("$12", "$12"),
        ("$#", "$#"),
        ("@", "@"),
        ("@name", "@name"),
        ("@name[k1, k2]", "@name[k1 k2]"),
        ("@[comm, pid]", "@[comm pid]"),
        ("exit()", "exit()"),
        ("pid()", "pid()"),
        ("printf(\"%d %s\", 1, comm)", "printf(\"%d %s\" 1 comm)"),
        ("kstack(perf, 3)", "kstack(perf 3)"),
        ("str(args->filename)", "str((-> args filename))"),
        ("(1, \"a\", $x)", "(tuple 1 \"a\" $x)"),
        ("((1, 2), 3)", "(tuple (tuple 1 2) 3)"),
        ("$t.0", "(.0 $t)"),
        ("$t.1.0", "(.0 (.1 $t))"),
        ("args->f", "(-> args f)"),
        ("args.f", "(. args f)"),
        ("curtask->mm->owner", "(-> (-> curtask mm) owner)"),
        ("$s.config", "(. $s config)"),
        ("p[3]", "([] p 3)"),
        ("$p[1][2]", "([] ([] $p 1) 2)"),
        ("@m[1][2]", "([] @m[1] 2)"),
        ("args->argv[0]", "([] (-> args argv) 0)"),
        ("@x.f", "(. @x f)"),
    ];
    for (input, expected) in cases {
        assert_eq!(ex(input), expected, "{input}");
    }
}

#[test]
fn casts() {
    let cases = [
        ("(uint8)300", "(cast <uint8> 300)"),
        ("(int64)$x", "(cast <int64> $x)"),
        ("(struct sock *)arg0", "(cast <struct sock*> arg0)"),
        ("(struct  sock**)arg0", "(cast <struct sock**> arg0)"),
        ("(unsigned int)arg1", "(cast <unsigned int> arg1)"),
        (
            "(unsigned long long)arg1",
            "(cast <unsigned long long> arg1)",
        ),
        ("(uint8[4])$x", "(cast <uint8[4]> $x)"),
        ("(size_t)arg0", "(cast <size_t> arg0)"),
        ("(task_struct *)curtask", "(cast <task_struct*> curtask)"),
        ("(uint64)-1", "(cast <uint64> (neg 1))"),
        ("(int8)(int16)$x", "(cast <int8> (cast <int16> $x))"),
        (
            "(struct sock *)arg0->sk_family",
            "(cast <struct sock*> (-> arg0 sk_family))",
        ),
        (
            "((struct sock *)arg0)->sk_family",
            "(-> (cast <struct sock*> arg0) sk_family)",
        ),
        ("(uint32)$x + 1", "(+ (cast <uint32> $x) 1)"),
        // Not type names: parenthesised expressions.
        ("(pid) - 1", "(- pid 1)"),
        ("(a * b)", "(* a b)"),
        ("(x)[1]", "([] x 1)"),
    ];
    for (input, expected) in cases {
        assert_eq!(ex(input), expected, "{input}");
    }
    let src = "BEGIN { $e = (struct sock *)arg0; }";
    let program = parse_ok(src);
    let StmtKind::Assign { value, .. } = &program.probes[0].body.stmts[0].kind else {
        panic!()
    };
    let ExprKind::Cast { ty, .. } = &value.kind else {
        panic!()
    };
    assert_eq!(text(src, ty.span), "struct sock *");
    assert_eq!(text(src, value.span), "(struct sock *)arg0");
}

#[test]
fn sizeof_and_offsetof() {
    assert_eq!(
        ex("sizeof(struct task_struct)"),
        "(sizeof <struct task_struct>)"
    );
    assert_eq!(ex("sizeof(uint64)"), "(sizeof <uint64>)");
    assert_eq!(ex("sizeof(struct sock *)"), "(sizeof <struct sock*>)");
    assert_eq!(ex("sizeof($x)"), "(sizeof $x)");
    assert_eq!(ex("sizeof(foo)"), "(sizeof foo)");
    assert_eq!(ex("sizeof(1 + 2)"), "(sizeof (+ 1 2))");
    assert_eq!(
        ex("offsetof(struct sock, sk_family)"),
        "(offsetof <struct sock> sk_family)"
    );
    assert_eq!(
        ex("offsetof(struct sk_buff, cb.x)"),
        "(offsetof <struct sk_buff> cb.x)"
    );
    assert_eq!(ex("offsetof(foo_t, a)"), "(offsetof <foo_t> a)");
    assert_eq!(ex("offsetof(Foo, a)"), "(offsetof <Foo> a)");
}

#[test]
fn keywords_are_not_identifiers() {
    for kw in [
        "if", "else", "while", "for", "unroll", "return", "break", "continue", "let", "config",
        "sizeof", "offsetof",
    ] {
        let src = format!("BEGIN {{ $x = {kw}; }}");
        assert!(parse(&src).is_err(), "{kw} accepted as an identifier");
    }
    // ... but words that merely start with a keyword are identifiers.
    assert_eq!(ex("iffy + format + letter"), "(+ (+ iffy format) letter)");
}

// ---------------------------------------------------------------------------------------------
// Literals
// ---------------------------------------------------------------------------------------------

#[test]
fn integer_literals() {
    let cases = [
        ("0", 0u64),
        ("42", 42),
        ("0x10", 16),
        ("0XfF", 255),
        ("010", 8),
        ("00", 0),
        ("1_000", 1000),
        ("1_000_000", 1_000_000),
        ("0xdead_beef", 0xdead_beef),
        ("1e3", 1000),
        ("5E2", 500),
        ("1e0", 1),
        ("10u", 10),
        ("10l", 10),
        ("10UL", 10),
        ("10ull", 10),
        ("10LLU", 10),
        ("0x10ul", 16),
        ("18446744073709551615", u64::MAX),
        ("0xffffffffffffffff", u64::MAX),
        ("1e19", 10_000_000_000_000_000_000),
    ];
    for (input, value) in cases {
        assert_eq!(ex(input), value.to_string(), "{input}");
    }
}

#[test]
fn integer_overflow_is_an_error_with_a_span() {
    for literal in [
        "18446744073709551616",
        "0x1_0000_0000_0000_0000",
        "1e20",
        "2e19",
        "077777777777777777777777",
    ] {
        let src = format!("BEGIN {{ @x = {literal}; }}");
        let d = parse_err(&src);
        assert_eq!(
            d.message,
            format!("integer literal `{literal}` is too large")
        );
        assert_eq!(text(&src, d.span), literal);
    }
}

#[test]
fn bad_integer_literals() {
    let d = parse_err("BEGIN { @x = 09; }");
    assert_eq!(d.message, "invalid integer literal `09`");
    assert!(d.label.contains("octal"), "{}", d.label);
    let d = parse_err("BEGIN { @x = 12ab; }");
    assert_eq!(d.message, "invalid integer literal `12ab`");
    assert_eq!(d.span, Span::new(13, 17));
}

#[test]
fn string_literals_and_escapes() {
    let src = r#"BEGIN { $s = "a\nb\tc\rd\"e\\f\101\x41\0\7\x7g"; }"#;
    let program = parse_ok(src);
    let StmtKind::Assign { value, .. } = &program.probes[0].body.stmts[0].kind else {
        panic!()
    };
    assert_eq!(
        value.kind,
        ExprKind::Str(b"a\nb\tc\rd\"e\\fAA\0\x07\x07g".to_vec())
    );
    assert_eq!(ex("\"\""), "\"\"");
    assert_eq!(ex("\"%-16s %6d\\n\""), "\"%-16s %6d\\n\"");
    assert_eq!(
        ex("\"\\377\""),
        format!("{:?}", String::from_utf8_lossy(&[0xff]))
    );
}

#[test]
fn bad_escape_points_at_the_escape() {
    let src = r#"BEGIN { printf("ok\q"); }"#;
    let d = parse_err(src);
    assert_eq!(d.message, "unknown escape sequence `\\q` in string");
    assert_eq!(text(src, d.span), "\\q");
    assert_eq!(d.line_col(src), (1, 19));
    let d = parse_err(r#"BEGIN { printf("\400"); }"#);
    assert_eq!(d.message, "unknown escape sequence `\\4` in string");
}

// ---------------------------------------------------------------------------------------------
// Errors: messages and positions
// ---------------------------------------------------------------------------------------------

/// Message and 1-based line:col of the error for `src`.
fn error_at(src: &str) -> (String, (usize, usize)) {
    let d = parse_err(src);
    let pos = d.line_col(src);
    (d.message, pos)
}

#[test]
fn missing_semicolon() {
    let src = "BEGIN {\n  @x = count() @y = 1\n}";
    assert_eq!(
        error_at(src),
        ("expected `;` or `}`, found `@y`".into(), (2, 16))
    );
    let rendered = parse_err(src).render("script.bt", src, false);
    assert_eq!(
        rendered,
        "error: expected `;` or `}`, found `@y`\n --> script.bt:2:16\n  |\n2 |   @x = count() @y = 1\n  |                ^^ expected `;` or `}` here\n\n"
    );
}

#[test]
fn unclosed_block_points_at_both_ends() {
    let src = "BEGIN {\n  printf(\"hi\");\n";
    let d = parse_err(src);
    assert_eq!(d.message, "unclosed block: expected `}`");
    assert_eq!(d.line_col(src), (3, 1));
    assert_eq!(
        d.secondary,
        vec![(Span::new(6, 7), "this `{` is never closed".to_string())]
    );
    let rendered = d.render("script.bt", src, false);
    assert!(rendered.contains("this `{` is never closed"), "{rendered}");
    assert!(
        rendered.contains("expected `}` to close the block opened here"),
        "{rendered}"
    );
}

#[test]
fn unclosed_paren_at_end() {
    let (msg, pos) = error_at("BEGIN { printf(\"%d\", (1 + 2) ");
    assert_eq!(msg, "unclosed `(`: expected `)`");
    assert_eq!(pos, (1, 30));
}

#[test]
fn unexpected_closing_paren() {
    assert_eq!(
        error_at("BEGIN { @x = 1 } )"),
        ("unexpected `)`".into(), (1, 18))
    );
    let d = parse_err("BEGIN {\n  @x = (1 + 2));\n}");
    assert_eq!(d.message, "unexpected `)`");
    assert_eq!(d.line_col("BEGIN {\n  @x = (1 + 2));\n}"), (2, 15));
    assert_eq!(d.label, "expected `}` here");
}

#[test]
fn mismatched_brackets() {
    let src = "i:s:1 { @x = (1, 2 }";
    let d = parse_err(src);
    assert_eq!(d.message, "unexpected `}`");
    assert_eq!(d.label, "expected `)` here");
    assert_eq!(d.secondary[0].0, Span::new(13, 14));
    assert_eq!(d.line_col(src), (1, 20));
}

#[test]
fn unterminated_string() {
    let src = "BEGIN {\n  printf(\"hello\n}\n";
    let d = parse_err(src);
    assert_eq!(d.message, "unterminated string literal");
    assert_eq!(d.line_col(src), (2, 10));
    assert_eq!(text(src, d.span), "\"hello");
}

#[test]
fn unterminated_comment() {
    assert_eq!(
        error_at("BEGIN { }\n/* never\nclosed"),
        ("unterminated block comment".into(), (2, 1))
    );
}

#[test]
fn bad_attach_points() {
    let d = parse_err("kprobe: { }");
    assert_eq!(d.message, "invalid attach point `kprobe:`");
    assert_eq!(d.span, Span::new(0, 7));
    let d = parse_err("tracepoint::x { }");
    assert_eq!(d.label, "it has an empty part between two `:`");
    let d = parse_err("9p:x { }");
    assert_eq!(d.message, "invalid attach point `9p:x`");
    assert_eq!(
        error_at("kprobe:f%x { }"),
        ("invalid character `%` in attach point".into(), (1, 9))
    );
    assert_eq!(
        error_at("kprobe:f, { }"),
        ("expected an attach point, found `{`".into(), (1, 11))
    );
    assert_eq!(
        error_at("BEGIN"),
        (
            "expected a predicate `/.../`, an action block `{ ... }` or `,`, found end of input"
                .into(),
            (1, 6)
        )
    );
}

#[test]
fn predicate_errors() {
    assert_eq!(
        error_at("kprobe:f /pid == 1 { }"),
        ("expected `/`, found `{`".into(), (1, 20))
    );
    let d = parse_err("k:f /$x / 2 > 1/ { }");
    assert_eq!(d.message, "expected an action block `{ ... }`, found `2`");
    assert!(d.notes[0].contains("(a / b)"));
    // Division inside parentheses is fine.
    let program = parse_ok("k:f /($x / 2) > 1/ { }");
    assert_eq!(
        expr(program.probes[0].predicate.as_ref().unwrap()),
        "(> (/ $x 2) 1)"
    );
}

#[test]
fn expression_errors() {
    assert_eq!(
        error_at("BEGIN { @x = ; }"),
        ("expected an expression, found `;`".into(), (1, 14))
    );
    assert_eq!(
        error_at("BEGIN { $x = 1 ? 2 3; }"),
        ("expected `:`, found `3`".into(), (1, 20))
    );
    assert_eq!(
        error_at("BEGIN { printf(\"a\" 1); }"),
        ("expected `,` or `)`, found `1`".into(), (1, 20))
    );
    assert_eq!(
        error_at("BEGIN { @x[1 = 2; }"),
        ("expected `,` or `]`, found `=`".into(), (1, 14))
    );
    assert_eq!(
        error_at("BEGIN { $x = $y->; }"),
        ("expected a name, found `;`".into(), (1, 18))
    );
}

#[test]
fn statement_errors() {
    assert_eq!(
        error_at("BEGIN { if (1) @x = 1; }"),
        ("expected `{`, found `@x`".into(), (1, 16))
    );
    assert_eq!(
        error_at("BEGIN { if x { } else { } else { } }"),
        ("expected a statement or `}`, found `else`".into(), (1, 27))
    );
    assert_eq!(
        error_at("BEGIN { let 1 = 2; }"),
        ("expected a variable like `$x`, found `1`".into(), (1, 13))
    );
    assert_eq!(
        error_at("BEGIN { for ($x @m) {} }"),
        ("expected `:`, found `@m`".into(), (1, 17))
    );
    assert_eq!(
        error_at("BEGIN { $x = while; }"),
        ("expected an expression, found `while`".into(), (1, 14))
    );
}

#[test]
fn render_with_color_has_ansi_codes() {
    let src = "BEGIN { @x = ; }";
    let d = parse_err(src);
    let colored = d.render("s.bt", src, true);
    assert!(colored.contains("\u{1b}["), "{colored:?}");
    assert!(colored.contains("expected an expression"));
}

#[test]
fn diagnostics_render_several_with_notes_and_secondary_labels() {
    let src = "BEGIN {\n  @x = 1;\n}\n";
    let first = Diagnostic::error(Span::new(10, 12), "first problem")
        .with_label("here")
        .with_note("a note")
        .with_secondary(Span::new(6, 7), "opened here");
    // Out-of-range spans (e.g. from a stale source) are clamped, not a panic.
    let second = Diagnostic::warning(Span::new(100, 200), "second problem");
    let all = Diagnostics(vec![first, second]);
    let text = all.render("f.bt", src, false);
    assert!(
        text.starts_with("error: first problem\n --> f.bt:2:3\n"),
        "{text}"
    );
    assert!(text.contains("^^ here"), "{text}");
    assert!(
        text.contains("- opened here") || text.contains("opened here"),
        "{text}"
    );
    assert!(text.contains("= note: a note"), "{text}");
    assert!(
        text.contains("warning: second problem\n --> f.bt:4:1\n"),
        "{text}"
    );
    assert!(all.has_errors());
    assert_eq!(
        all.to_string(),
        "error: first problem\nwarning: second problem"
    );
    assert_eq!(Diagnostic::error(Span::new(0, 0), "x").line_col(""), (1, 1));
}

// ---------------------------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------------------------

const SAMPLE: &str = r#"#!/usr/bin/env bpftrace
#include <linux/sched.h>
config = { max_strlen = 64 }
struct S { int a; };
BEGIN { printf("start\n"); @start = nsecs; }
tracepoint:syscalls:sys_enter_openat,
tracepoint:syscalls:sys_enter_open /comm != "bash" && pid > 1/
{
    $f = str(args->filename);
    @opens[comm, $f] = count();
    if ($f == "x") { @x++ } else if (pid % 2) { @y -= 1 } else { @z = (uint8)3 }
    for ($i : 0..4) { unroll(2) { @u[$i] = hist(arg0 << 1) } }
    $t = (1, "two"); @tt = $t.1; @s = sizeof(struct task_struct);
    $c = ((struct task_struct *)curtask)->mm->owner->pid;
    @q = $c > 3 ? -1 : ~0x10;
}
k:f < @a = lhist(arg2, 0, 100, 10); while ($j < 3) { $j++; } >
END { clear(@opens); exit(); }
"#;

#[test]
fn sample_script_parses() {
    let program = parse_ok(SAMPLE);
    assert_eq!(program.probes.len(), 4);
    assert_eq!(program.config.len(), 1);
    assert_eq!(program.c_definitions.len(), 2);
}

#[test]
fn truncated_prefixes_never_panic() {
    let mut errors = 0;
    for end in (0..=SAMPLE.len()).filter(|&i| SAMPLE.is_char_boundary(i)) {
        let prefix = &SAMPLE[..end];
        if let Err(d) = parse(prefix) {
            errors += 1;
            assert!(d.span.start <= prefix.len() && d.span.end <= prefix.len());
            let rendered = d.render("p.bt", prefix, false);
            assert!(rendered.starts_with("error: "), "{rendered}");
        }
    }
    assert!(errors > SAMPLE.len() / 2);
}

/// A small deterministic generator (xorshift) for pseudo-random inputs.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_inputs_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Random bytes (lossily made UTF-8).
    for _ in 0..300 {
        let len = (rng.next() % 80) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        if let Err(d) = parse(&text) {
            d.render("r.bt", &text, false);
        }
    }
    // Random token soups, which get much further into the grammar.
    let tokens = [
        "BEGIN",
        "k:f",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "<",
        ">",
        "/",
        ";",
        ",",
        "$x",
        "@m",
        "1",
        "0x1",
        "\"s\"",
        "if",
        "else",
        "while",
        "for",
        ":",
        "..",
        "?",
        "+",
        "-",
        "*",
        "=",
        "==",
        "->",
        ".",
        "pid",
        "(uint8)",
        "struct",
        "#include <a>\n",
        "//c\n",
        "/*",
        "*/",
        "'",
        "\\",
        "let",
        "unroll",
        "sizeof",
        "++",
        ">=",
        ">>",
        "\n",
        "é",
    ];
    for _ in 0..3000 {
        let n = (rng.next() % 16) as usize;
        let text: Vec<&str> = (0..n)
            .map(|_| tokens[(rng.next() % tokens.len() as u64) as usize])
            .collect();
        let text = text.join(" ");
        if let Err(d) = parse(&text) {
            let rendered = d.render("r.bt", &text, false);
            assert!(
                !rendered.contains("internal parser error"),
                "{text:?}\n{rendered}"
            );
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!(
        "BEGIN {{ $x = {}1{}; }}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    assert_eq!(parse_err(&deep).message, "nesting is too deep");
    let unclosed = format!("BEGIN {{ {}", "{".repeat(100_000));
    assert_eq!(parse_err(&unclosed).message, "nesting is too deep");
    let ternaries = format!(
        "BEGIN {{ $x = {}1{}; }}",
        "1 ? ".repeat(1000),
        " : 2".repeat(1000)
    );
    assert_eq!(parse_err(&ternaries).message, "nesting is too deep");
    // Long operator chains and prefix runs nest the tree without nesting brackets.
    let chain = format!("BEGIN {{ $x = 1{}; }}", " + 1".repeat(20_000));
    assert_eq!(parse_err(&chain).message, "expression is nested too deeply");
    let prefixes = format!(
        "BEGIN {{ $x = {}1; }}",
        "-".repeat(20_000).replace("--", "- -")
    );
    assert_eq!(
        parse_err(&prefixes).message,
        "expression is nested too deeply"
    );
    // Moderately deep code is fine.
    let fine = format!("BEGIN {{ $x = {}1{}; }}", "(".repeat(100), ")".repeat(100));
    parse_ok(&fine);
    let long = format!("BEGIN {{ $x = 1{}; }}", " + 1".repeat(300));
    parse_ok(&long);
}

#[test]
fn non_ascii_in_strings_and_comments() {
    assert_eq!(
        body("BEGIN { // héllo\n printf(\"ünï %s\\n\", \"€\"); }"),
        "{printf(\"ünï %s\\n\" \"€\")}"
    );
    let src = "BEGIN { @x = €; }";
    let d = parse_err(src);
    assert_eq!(d.message, "expected an expression, found `€`");
    assert_eq!(text(src, d.span), "€");
}

// ---------------------------------------------------------------------------------------------
// Real scripts
// ---------------------------------------------------------------------------------------------

#[test]
fn typical_one_liners_parse() {
    let programs = [
        "BEGIN { printf(\"Hello, World!\\n\"); }",
        "tracepoint:syscalls:sys_enter_openat { printf(\"%s %s\\n\", comm, str(args->filename)); }",
        "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }",
        "tracepoint:syscalls:sys_exit_read /pid == 18644/ { @bytes = hist(args->ret); }",
        "kretprobe:vfs_read { @bytes = lhist(retval, 0, 2000, 200); }",
        "kprobe:do_nanosleep { @start[tid] = nsecs; } kretprobe:do_nanosleep /@start[tid]/ { @ns[comm] = hist(nsecs - @start[tid]); delete(@start[tid]); }",
        "profile:hz:99 /pid == 189/ { @[ustack] = count(); }",
        "profile:hz:49 { @[kstack(perf, 5), comm] = count(); }",
        "tracepoint:sched:sched_switch { @[kstack] = count(); }",
        "tracepoint:block:block_rq_issue { @ = hist(args->bytes); }",
        "software:faults:1 { @[comm] = count(); }",
        "hardware:cache-misses:1000000 { @[pid] = count(); }",
        "uretprobe:/bin/bash:readline { printf(\"%-6d %s\\n\", pid, str(retval)); }",
        "usdt:/usr/lib/postgresql/15/bin/postgres:query__start { @q[str(arg0)] = count(); }",
        "interval:s:1 { time(\"%H:%M:%S \"); print(@syscalls); clear(@syscalls); }",
        "i:ms:100 { @i++; if (@i >= 10) { exit(); } }",
        "BEGIN { @t = (1, \"x\"); $t = @t; printf(\"%d %s\\n\", $t.0, $t.1); exit() }",
        "kprobe:tcp_connect { $sk = (struct sock *)arg0; @[ntop($sk->__sk_common.skc_daddr)] = count(); }",
        "tracepoint:syscalls:sys_enter_kill /args->sig == 9/ { printf(\"%d -> %d\\n\", pid, args->pid) }",
        "t:syscalls:sys_enter_execve { join(args->argv); }",
        "BEGIN { $x = 0; while ($x < 5) { $x++; if ($x == 3) { continue; } printf(\"%d\\n\", $x); } }",
        "BEGIN { @m[1] = 1; @m[2] = 2; for ($kv : @m) { printf(\"%d=%d\\n\", $kv.0, $kv.1); } }",
        "tracepoint:syscalls:sys_enter_openat { if (args.flags & 1) { @w[comm] = count() } else { @r[comm] = count() } }",
        "k:tcp_sendmsg < @bytes[comm] = sum(arg2); @calls = count() >",
        "BEGIN { printf(\"%s\\n\", $1 == 0 ? \"zero\" : \"nonzero\"); }",
        "tracepoint:sched:sched_process_exit { @age = stats((nsecs - curtask->start_time) / 1000000); }",
        "BEGIN { $s = sizeof(struct task_struct); $o = offsetof(struct task_struct, pid); }",
        "kprobe:vfs_read { @[func] = count(); @s = sum(arg2 & 0xffff); @m = max(arg2 >> 3); @n = min(-1); @a = avg(arg2); }",
    ];
    for program in programs {
        let parsed = parse_ok(program);
        assert!(!parsed.probes.is_empty(), "{program}");
    }
}

// ---------------------------------------------------------------------------------------------

#[test]
fn debian_bpftrace_tools_parse() {
    let Ok(dir) = std::fs::read_dir("/usr/sbin") else {
        return;
    };
    let mut scripts: Vec<_> = dir
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "bt"))
        .collect();
    scripts.sort();
    let mut failures = Vec::new();
    for path in &scripts {
        let source = std::fs::read_to_string(path).expect("readable script");
        match parse(&source) {
            Ok(program) => assert!(!program.probes.is_empty(), "{}", path.display()),
            Err(d) => failures.push(d.render(&path.display().to_string(), &source, false)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} tools failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(scripts.len() >= 30, "only {} tools found", scripts.len());
}
