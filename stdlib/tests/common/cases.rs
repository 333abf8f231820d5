//! The maps of the golden scripts, shared by the text and JSON tests (the
//! scripts are quoted next to their golden output in `maps_text.rs`).

use super::*;
use rtrace_stdlib::output::RawMap;
use rtrace_stdlib::types::Type;

const STR: Type = Type::Str { len: 16 };

fn none_keys(values: &[i64]) -> Vec<(Vec<u8>, i64)> {
    values.iter().map(|v| (Vec::new(), *v)).collect()
}

fn keyed(items: &[(Vec<u8>, i64)]) -> Vec<(Vec<u8>, i64)> {
    items.to_vec()
}

pub fn lhist_maps() -> Vec<RawMap> {
    let lhist = |min, max, step| Type::Lhist { min, max, step };
    vec![
        agg_map(
            "@l",
            Type::None,
            lhist(0, 4096, 1024),
            &none_keys(&[3000, -1, 99999, 99999]),
        ),
        agg_map(
            "@n",
            Type::None,
            lhist(100, 300, 50),
            &none_keys(&[150, 260, 5]),
        ),
        agg_map(
            "@m",
            Type::None,
            lhist(0, 4194304, 1048576),
            &none_keys(&[3000000, 10]),
        ),
        agg_map("@e", Type::None, lhist(0, 100, 10), &none_keys(&[100, 5])),
        agg_map("@u", Type::None, lhist(0, 10, 3), &none_keys(&[7, 9, 10])),
    ]
}

pub fn scalar_maps() -> Vec<RawMap> {
    let s = |v: &str| string(v, 16);
    let mk = |n: i64, v: &str| tuple(&[(Type::I64, int(n)), (STR, s(v))]);
    let inner = Type::Tuple(vec![Type::I64, Type::I64]);
    let tuple_type = Type::Tuple(vec![Type::I64, STR, inner.clone()]);
    let tuple_value = |a: i64, b: &str, c: i64, d: i64| {
        let nested = tuple(&[(Type::I64, int(c)), (Type::I64, int(d))]);
        tuple(&[(Type::I64, int(a)), (STR, s(b)), (inner.clone(), nested)])
    };
    vec![
        agg_map(
            "@c",
            STR,
            Type::Count,
            &keyed(&[
                (s("x"), 0),
                (s("y"), 0),
                (s("y"), 0),
                (s("z"), 0),
                (s("z"), 0),
                (s("z"), 0),
            ]),
        ),
        agg_map(
            "@s",
            Type::I64,
            Type::Sum,
            &keyed(&[(int(1), 10), (int(2), -30), (int(3), 5)]),
        ),
        agg_map("@mn", Type::None, Type::Min, &none_keys(&[-4, 8])),
        agg_map(
            "@mx",
            Type::Tuple(vec![Type::I64, STR]),
            Type::Max,
            &keyed(&[(mk(1, "a"), 3), (mk(1, "a"), 9)]),
        ),
        agg_map(
            "@a",
            Type::I64,
            Type::Avg,
            &keyed(&[(int(1), 10), (int(1), 20), (int(2), -7)]),
        ),
        agg_map("@st", Type::None, Type::Stats, &none_keys(&[10, 11])),
        agg_map(
            "@stk",
            STR,
            Type::Stats,
            &keyed(&[(s("k"), 3), (s("j"), 100)]),
        ),
        plain_map("@i", Type::None, Type::I64, &[(vec![], int(5))]),
        plain_map("@neg", Type::None, Type::I64, &[(vec![], int(-7))]),
        plain_map("@u", Type::None, Type::U64, &[(vec![], int(i64::MIN))]),
        plain_map(
            "@str",
            Type::I64,
            STR,
            &[(int(1), s("hello")), (int(0), s("abc"))],
        ),
        plain_map(
            "@t",
            Type::I64,
            tuple_type,
            &[
                (int(1), tuple_value(1, "two", 3, 4)),
                (int(0), tuple_value(5, "x", 6, 7)),
            ],
        ),
        plain_map(
            "@ik",
            Type::I64,
            Type::I64,
            &[(int(3), int(1)), (int(-1), int(2)), (int(10), int(3))],
        ),
    ]
}

/// An int of `bits` as the compiler stores it: extended to 8 bytes.
pub fn stored(v: i64, bits: u32, signed: bool) -> Vec<u8> {
    let shift = 64 - bits;
    let v = if signed {
        (v << shift) >> shift
    } else {
        ((v as u64) << shift >> shift) as i64
    };
    int(v)
}

pub fn int_width_maps() -> Vec<RawMap> {
    let one = || int(1);
    let tuple_type = Type::Tuple(vec![
        Type::U32,
        Type::U64,
        Type::int(8, true),
        Type::int(8, false),
    ]);
    let tuple_value = tuple(&[
        (Type::U32, stored(-1, 32, false)),
        (Type::U64, stored(-1, 64, false)),
        (Type::int(8, true), stored(-1, 8, true)),
        (Type::int(8, false), stored(255, 8, false)),
    ]);
    let two = Type::Tuple(vec![Type::int(16, false), Type::U64]);
    let two_key = tuple(&[
        (Type::int(16, false), stored(65535, 16, false)),
        (Type::U64, int(-1)),
    ]);
    let mk_type = Type::Tuple(vec![Type::I64, STR]);
    let mk = tuple(&[(Type::I64, int(-5)), (STR, string("x", 16))]);
    vec![
        plain_map(
            "@q",
            Type::U32,
            Type::I64,
            &[(stored(-1, 32, false), one())],
        ),
        plain_map(
            "@r",
            Type::int(8, false),
            Type::I64,
            &[(stored(200, 8, false), one())],
        ),
        plain_map("@v", two, Type::I64, &[(two_key, one())]),
        plain_map("@t", Type::None, tuple_type, &[(vec![], tuple_value)]),
        plain_map(
            "@s",
            Type::int(8, true),
            Type::I64,
            &[(stored(-3, 8, true), one())],
        ),
        plain_map("@k", mk_type, Type::U32, &[(mk, stored(-1, 32, false))]),
    ]
}

pub fn symbol_maps() -> Vec<RawMap> {
    let abort = int(0xffffffff812077c2u64 as i64);
    let tcp = int(0xffffffff820938b5u64 as i64);
    let t_type = Type::Tuple(vec![Type::Ksym, Type::Probe, Type::I64]);
    let t_value = tuple(&[
        (Type::Ksym, abort.clone()),
        (Type::Probe, int(0)),
        (Type::I64, int(1)),
    ]);
    vec![
        plain_map(
            "@k",
            Type::I64,
            Type::Ksym,
            &[(int(2), abort.clone()), (int(1), tcp)],
        ),
        plain_map("@kk", Type::Ksym, Type::I64, &[(abort, int(1))]),
        plain_map("@p", Type::None, Type::Probe, &[(vec![], int(0))]),
        agg_map("@pk", Type::Probe, Type::Count, &keyed(&[(int(0), 0)])),
        plain_map("@u", Type::I64, Type::Usym, &[(int(1), int(0x1234))]),
        plain_map("@ks", Type::None, Type::Ksym, &[(vec![], int(1))]),
        plain_map("@t", Type::None, t_type, &[(vec![], t_value)]),
    ]
}
