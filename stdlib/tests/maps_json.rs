//! `-f json` output of maps and events against bpftrace 0.17 golden output.
//! The maps are the same as in `maps_text.rs` (see the scripts quoted there).

mod common;

use common::cases::*;
use common::*;
use rtrace_stdlib::output::{
    print_map_json, printf_json, time_json, OutputFormat, RawEntry, RawMap,
};
use rtrace_stdlib::types::Type;

fn json(m: &RawMap) -> String {
    print_map_json(m, 0, 0, &FixedResolver::new())
}

fn none_keys(values: &[i64]) -> Vec<(Vec<u8>, i64)> {
    values.iter().map(|v| (Vec::new(), *v)).collect()
}

const HIST: &str = r#"{"type": "attached_probes", "data": {"probes": 1}}


{"type": "hist", "data": {"@h": [{"max": -1, "count": 1}, {"min": 0, "max": 0, "count": 1}, {"min": 1, "max": 1, "count": 1}, {"min": 2, "max": 3, "count": 2}, {"min": 4, "max": 7, "count": 1}, {"min": 8, "max": 15, "count": 0}, {"min": 16, "max": 31, "count": 0}, {"min": 32, "max": 63, "count": 0}, {"min": 64, "max": 127, "count": 0}, {"min": 128, "max": 255, "count": 0}, {"min": 256, "max": 511, "count": 0}, {"min": 512, "max": 1023, "count": 2}, {"min": 1024, "max": 2047, "count": 0}, {"min": 2048, "max": 4095, "count": 0}, {"min": 4096, "max": 8191, "count": 0}, {"min": 8192, "max": 16383, "count": 0}, {"min": 16384, "max": 32767, "count": 0}, {"min": 32768, "max": 65535, "count": 0}, {"min": 65536, "max": 131071, "count": 0}, {"min": 131072, "max": 262143, "count": 0}, {"min": 262144, "max": 524287, "count": 0}, {"min": 524288, "max": 1048575, "count": 0}, {"min": 1048576, "max": 2097151, "count": 1}, {"min": 2097152, "max": 4194303, "count": 0}, {"min": 4194304, "max": 8388607, "count": 0}, {"min": 8388608, "max": 16777215, "count": 0}, {"min": 16777216, "max": 33554431, "count": 0}, {"min": 33554432, "max": 67108863, "count": 0}, {"min": 67108864, "max": 134217727, "count": 0}, {"min": 134217728, "max": 268435455, "count": 0}, {"min": 268435456, "max": 536870911, "count": 0}, {"min": 536870912, "max": 1073741823, "count": 0}, {"min": 1073741824, "max": 2147483647, "count": 1}]}}
"#;
const HIST_KEYED: &str = r#"{"type": "attached_probes", "data": {"probes": 1}}


{"type": "hist", "data": {"@h": {"c": [{"min": 0, "max": 0, "count": 1}], "b": [{"min": 4, "max": 7, "count": 2}], "a": [{"min": 64, "max": 127, "count": 3}]}}}
"#;
const LHIST: &str = r#"{"type": "attached_probes", "data": {"probes": 1}}


{"type": "hist", "data": {"@e": [{"min": 0, "max": 9, "count": 1}, {"min": 10, "max": 19, "count": 0}, {"min": 20, "max": 29, "count": 0}, {"min": 30, "max": 39, "count": 0}, {"min": 40, "max": 49, "count": 0}, {"min": 50, "max": 59, "count": 0}, {"min": 60, "max": 69, "count": 0}, {"min": 70, "max": 79, "count": 0}, {"min": 80, "max": 89, "count": 0}, {"min": 90, "max": 99, "count": 0}, {"min": 100, "count": 1}]}}
{"type": "hist", "data": {"@l": [{"max": -1, "count": 1}, {"min": 0, "max": 1023, "count": 0}, {"min": 1024, "max": 2047, "count": 0}, {"min": 2048, "max": 3071, "count": 1}, {"min": 3072, "max": 4095, "count": 0}, {"min": 4096, "count": 2}]}}
{"type": "hist", "data": {"@m": [{"min": 0, "max": 1048575, "count": 1}, {"min": 1048576, "max": 2097151, "count": 0}, {"min": 2097152, "max": 3145727, "count": 1}]}}
{"type": "hist", "data": {"@n": [{"max": 99, "count": 1}, {"min": 100, "max": 149, "count": 0}, {"min": 150, "max": 199, "count": 1}, {"min": 200, "max": 249, "count": 0}, {"min": 250, "max": 299, "count": 1}]}}
{"type": "hist", "data": {"@u": [{"min": 6, "max": 8, "count": 1}, {"min": 10, "count": 2}]}}
"#;
const SCALARS: &str = r#"{"type": "attached_probes", "data": {"probes": 1}}


{"type": "stats", "data": {"@a": {"2": -7, "1": 15}}}
{"type": "map", "data": {"@c": {"x": 1, "y": 2, "z": 3}}}
{"type": "map", "data": {"@i": 5}}
{"type": "map", "data": {"@ik": {"3": 1, "-1": 2, "10": 3}}}
{"type": "map", "data": {"@mn": -4}}
{"type": "map", "data": {"@mx": {"1,a": 9}}}
{"type": "map", "data": {"@neg": -7}}
{"type": "map", "data": {"@s": {"2": -30, "3": 5, "1": 10}}}
{"type": "stats", "data": {"@st": {"count": 2, "average": 10, "total": 21}}}
{"type": "stats", "data": {"@stk": {"k": {"count": 1, "average": 3, "total": 3}, "j": {"count": 1, "average": 100, "total": 100}}}}
{"type": "map", "data": {"@str": {"0": "abc", "1": "hello"}}}
{"type": "map", "data": {"@t": {"0": [5,"x",[6,7]], "1": [1,"two",[3,4]]}}}
{"type": "map", "data": {"@u": 9223372036854775808}}
"#;
const INT_WIDTHS: &str = r#"{"type": "attached_probes", "data": {"probes": 1}}


{"type": "map", "data": {"@k": {"-5,x": 4294967295}}}
{"type": "map", "data": {"@q": {"4294967295": 1}}}
{"type": "map", "data": {"@r": {"200": 1}}}
{"type": "map", "data": {"@s": {"-3": 1}}}
{"type": "map", "data": {"@t": [4294967295,18446744073709551615,-1,255]}}
{"type": "map", "data": {"@v": {"65535,-1": 1}}}
"#;
const SYMBOLS: &str = r#"{"type": "attached_probes", "data": {"probes": 1}}
{"type": "value", "data": "abort"}
{"type": "value", "data": "BEGIN"}


{"type": "map", "data": {"@k": {"1": "tcp_v4_rcv", "2": "abort"}}}
{"type": "map", "data": {"@kk": {"abort": 1}}}
{"type": "map", "data": {"@ks": "0x1"}}
{"type": "map", "data": {"@p": "BEGIN"}}
{"type": "map", "data": {"@pk": {"BEGIN": 1}}}
{"type": "map", "data": {"@t": ["abort","BEGIN",1]}}
{"type": "map", "data": {"@u": {"1": "0x1234"}}}
"#;
// BEGIN { @h = hist(5); @k[1] = hist(3); @a = avg(4); @s[1,"x"] = stats(4);
//   @l = lhist(5, 0, 10, 1); zero(@h); zero(@a); zero(@s); zero(@k); zero(@l); exit(); }
const ZEROED: &str = r#"{"type": "attached_probes", "data": {"probes": 1}}


{"type": "stats", "data": {"@a": 0}}
{"type": "hist", "data": {"@h": []}}
{"type": "hist", "data": {"@k": {"1": []}}}
{"type": "hist", "data": {"@l": []}}
{"type": "stats", "data": {"@s": {"1,x": {"count": 0, "average": 0, "total": 0}}}}
"#;
const ZEROED_TEXT: &str = r#"Attaching 1 probe...


@a: 0

@h: 

@k[1]: 

@l: 

@s[1, x]: count 0, average 0, total 0

"#;
// BEGIN { printf("a\rb\x08c\x0cd\x7fe/f\n"); @m["a\"b"] = 1; @n["x\ty"] = "v\"w"; exit(); }
const ESCAPES: &str = r#"{"type": "attached_probes", "data": {"probes": 1}}
{"type": "printf", "data": "a\rb\u0008c\u000cde/f\n"}


{"type": "map", "data": {"@m": {"a\"b": 1}}}
{"type": "map", "data": {"@n": {"x\ty": "v\"w"}}}
"#;

#[test]
fn hist_buckets_as_min_max_objects() {
    let samples = none_keys(&[5, 1000, 1000, -3, 0, 1, 2, 3, 1048576, 2000000000]);
    let h = agg_map("@h", Type::None, Type::Hist, &samples);
    assert_eq!(exit_dump(&[h], json), after_attaching(HIST));
}

#[test]
fn keyed_hist_is_an_object_of_arrays() {
    let s = |v: &str| string(v, 16);
    let samples = vec![
        (s("b"), 5),
        (s("b"), 6),
        (s("a"), 100),
        (s("a"), 100),
        (s("a"), 100),
        (s("c"), 0),
    ];
    let h = agg_map("@h", Type::Str { len: 16 }, Type::Hist, &samples);
    assert_eq!(exit_dump(&[h], json), after_attaching(HIST_KEYED));
}

#[test]
fn lhist_open_ends() {
    assert_eq!(exit_dump(&lhist_maps(), json), after_attaching(LHIST));
}

#[test]
fn scalars_tuples_and_stats() {
    assert_eq!(exit_dump(&scalar_maps(), json), after_attaching(SCALARS));
}

#[test]
fn integer_widths_and_multi_keys() {
    assert_eq!(
        exit_dump(&int_width_maps(), json),
        after_attaching(INT_WIDTHS)
    );
}

#[test]
fn symbols_and_probe_values() {
    let r = FixedResolver::new();
    let abort = int(0xffffffff812077c2u64 as i64);
    let mut out = OutputFormat::Json.value(&Type::Ksym, &abort, &r);
    out.push_str(&OutputFormat::Json.value(&Type::Probe, &int(0), &r));
    out.push_str(&exit_dump(&symbol_maps(), json));
    assert_eq!(out, after_attaching(SYMBOLS));
}

fn zeroed_maps() -> Vec<RawMap> {
    let entry = |key: Vec<u8>, values: Vec<Vec<u8>>| RawEntry { key, values };
    let zero_pair = || vec![vec![0u8; 16]; CPUS];
    let zero_count = || vec![int(0); CPUS];
    let with = |name: &str, key: Type, value: Type, entries: Vec<RawEntry>| {
        let mut m = map(name, key, value);
        m.entries = entries;
        m
    };
    let mk = Type::Tuple(vec![Type::I64, Type::Str { len: 16 }]);
    let mk_key = tuple(&[
        (Type::I64, int(1)),
        (Type::Str { len: 16 }, string("x", 16)),
    ]);
    vec![
        with(
            "@h",
            Type::None,
            Type::Hist,
            vec![entry(int(4), zero_count())],
        ),
        with(
            "@k",
            Type::I64,
            Type::Hist,
            vec![entry([int(1), int(3)].concat(), zero_count())],
        ),
        with(
            "@a",
            Type::None,
            Type::Avg,
            vec![entry(vec![], zero_pair())],
        ),
        with("@s", mk, Type::Stats, vec![entry(mk_key, zero_pair())]),
        with(
            "@l",
            Type::None,
            Type::Lhist {
                min: 0,
                max: 10,
                step: 1,
            },
            vec![entry(int(6), zero_count())],
        ),
    ]
}

#[test]
fn zeroed_maps_keep_their_entries() {
    assert_eq!(exit_dump(&zeroed_maps(), json), after_attaching(ZEROED));
    let r = FixedResolver::new();
    let text = exit_dump(&zeroed_maps(), |m| OutputFormat::Text.map(m, 0, 0, &r));
    assert_eq!(text, after_attaching(ZEROED_TEXT));
}

#[test]
fn strings_are_escaped_like_0_17() {
    let s16 = Type::Str { len: 16 };
    let maps = [
        plain_map(
            "@m",
            s16.clone(),
            Type::I64,
            &[(string("a\"b", 16), int(1))],
        ),
        plain_map(
            "@n",
            s16.clone(),
            s16,
            &[(string("x\ty", 16), string("v\"w", 16))],
        ),
    ];
    let mut out = printf_json("a\rb\x08c\x0cd\x7fe/f\n");
    out.push_str(&exit_dump(&maps, json));
    assert_eq!(out, after_attaching(ESCAPES));
}

#[test]
fn event_lines() {
    assert_eq!(
        time_json("03:37:15\n"),
        "{\"type\": \"time\", \"data\": \"03:37:15\\n\"}\n"
    );
    assert_eq!(
        OutputFormat::Json.attached_probes(1),
        "{\"type\": \"attached_probes\", \"data\": {\"probes\": 1}}\n"
    );
    assert_eq!(
        OutputFormat::Text.attached_probes(2),
        "Attaching 2 probes...\n"
    );
    assert_eq!(
        OutputFormat::Text.attached_probes(1),
        "Attaching 1 probe...\n"
    );
}

#[test]
fn empty_maps_print_nothing_in_json() {
    assert_eq!(json(&map("@x", Type::I64, Type::Avg)), "");
    assert_eq!(json(&map("@x", Type::None, Type::Hist)), "");
}

// BEGIN { @h[1, "a"] = hist(5); @l[2, "b"] = lhist(7, 0, 10, 5); exit(); } with -f json
#[test]
fn multi_key_hists_join_keys_with_commas() {
    let s16 = Type::Str { len: 16 };
    let kt = Type::Tuple(vec![Type::I64, s16.clone()]);
    let k = |n: i64, s: &str| tuple(&[(Type::I64, int(n)), (s16.clone(), string(s, 16))]);
    let lhist = Type::Lhist {
        min: 0,
        max: 10,
        step: 5,
    };
    let maps = [
        agg_map("@h", kt.clone(), Type::Hist, &[(k(1, "a"), 5)]),
        agg_map("@l", kt, lhist, &[(k(2, "b"), 7)]),
    ];
    let want = "\n\n\
{\"type\": \"hist\", \"data\": {\"@h\": {\"1,a\": [{\"min\": 4, \"max\": 7, \"count\": 1}]}}}\n\
{\"type\": \"hist\", \"data\": {\"@l\": {\"2,b\": [{\"min\": 5, \"max\": 9, \"count\": 1}]}}}\n";
    assert_eq!(exit_dump(&maps, json), want);
}
