//! Macro expansion on parsed scripts: the expanded tree, and errors with spans.

use super::expand;
use crate::ast::{ExprKind, Program, StmtKind};
use crate::parse::parse;

fn expanded(source: &str) -> Program {
    expand(&parse(source).expect("parses"))
        .expect("expands")
        .expect("has macros")
}

fn errors(source: &str) -> Vec<String> {
    expand(&parse(source).expect("parses"))
        .expect_err("must fail")
        .iter()
        .map(|d| format!("{} @{}..{}", d.message, d.span.start, d.span.end))
        .collect()
}

#[test]
fn statement_call_becomes_block_with_bound_names() {
    let p = expanded(
        "macro m(x, $v, @map) { $v = x + 1; $local = 2; @map[$local] = $v; }\n\
         BEGIN { $a = 0; m(5, $a, @out); }",
    );
    let StmtKind::Block(body) = &p.probes[0].body.stmts[1].kind else {
        panic!("not expanded: {:?}", p.probes[0].body.stmts[1]);
    };
    let StmtKind::Assign { target, value, .. } = &body.stmts[0].kind else {
        panic!()
    };
    assert_eq!(target.kind, ExprKind::Var("a".into()));
    let ExprKind::Binary { lhs, .. } = &value.kind else {
        panic!()
    };
    assert_eq!(lhs.kind, ExprKind::Int(5));
    let StmtKind::Assign { target, .. } = &body.stmts[1].kind else {
        panic!()
    };
    assert_eq!(target.kind, ExprKind::Var("local__m1".into()));
    let StmtKind::Assign { target, .. } = &body.stmts[2].kind else {
        panic!()
    };
    let ExprKind::Map { name, keys } = &target.kind else {
        panic!()
    };
    assert_eq!(name, "out");
    assert_eq!(keys[0].kind, ExprKind::Var("local__m1".into()));
    assert!(p.macros.is_empty());
}

#[test]
fn value_macro_and_nested_macros() {
    let p = expanded(
        "macro one() { 1 }\nmacro add_one(x) { x + one() }\n\
         BEGIN { $y = add_one(2); }",
    );
    let StmtKind::Assign { value, .. } = &p.probes[0].body.stmts[0].kind else {
        panic!()
    };
    let ExprKind::Binary { lhs, rhs, .. } = &value.kind else {
        panic!("{value:?}")
    };
    assert_eq!(lhs.kind, ExprKind::Int(2));
    assert_eq!(rhs.kind, ExprKind::Int(1));
}

#[test]
fn no_macros_means_no_copy() {
    assert!(expand(&parse("BEGIN { f(1); }").unwrap())
        .unwrap()
        .is_none());
}

#[test]
fn misuse_is_reported_with_spans() {
    let src = "macro m($v) { $v = 1; }\nBEGIN { m(1); }";
    assert_eq!(
        errors(src),
        vec!["macro `m` expects a variable (`$name`) for `$v` @34..35"]
    );
    let src = "macro m(@v) { @v = 1; }\nBEGIN { m(@x[1]); }";
    assert_eq!(
        errors(src),
        vec!["macro `m` expects a map (`@name`, without keys) for `@v` @34..39"]
    );
    let src = "macro m(a, b) { a + b }\nBEGIN { m(1); }";
    assert_eq!(
        errors(src),
        vec!["macro `m` takes 2 arguments, found 1 @32..36"]
    );
    let src = "macro m() { m(); }\nBEGIN { m(); }";
    assert_eq!(errors(src), vec!["macro `m` expands into itself @12..15"]);
    let src = "macro m() { $a = 1; $a }\nBEGIN { $x = m(); }";
    assert_eq!(errors(src), vec!["macro `m` has no value @38..41"]);
    let src = "macro m() { 1 }\nmacro m() { 2 }\nBEGIN { }";
    assert_eq!(errors(src), vec!["macro `m` is defined twice @16..31"]);
}
