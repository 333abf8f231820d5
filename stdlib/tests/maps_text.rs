//! Text output of whole maps against bpftrace 0.17 golden output.
//!
//! Each golden string is what bpftrace 0.17 printed on this machine for the
//! script quoted above it; the maps are rebuilt from the same samples the way
//! the kernel side fills them (two CPUs, hist keys with a bucket index).

mod common;

use common::cases::*;
use common::*;
use rtrace_stdlib::output::print_map_text;
use rtrace_stdlib::types::Type;

const STR: Type = Type::Str { len: 16 };

fn text(m: &rtrace_stdlib::output::RawMap) -> String {
    print_map_text(m, 0, 0, &FixedResolver::new())
}

fn none_keys(values: &[i64]) -> Vec<(Vec<u8>, i64)> {
    values.iter().map(|v| (Vec::new(), *v)).collect()
}

fn keyed(items: &[(Vec<u8>, i64)]) -> Vec<(Vec<u8>, i64)> {
    items.to_vec()
}

// BEGIN { @h = hist(5); @h = hist(1000); @h = hist(1000); @h = hist(-3); @h = hist(0);
//   @h = hist(1); @h = hist(2); @h = hist(3); @h = hist(1048576); @h = hist(2000000000); exit(); }
const HIST: &str = r#"Attaching 1 probe...


@h: 
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[0]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[1]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[8, 16)                0 |                                                    |
[16, 32)               0 |                                                    |
[32, 64)               0 |                                                    |
[64, 128)              0 |                                                    |
[128, 256)             0 |                                                    |
[256, 512)             0 |                                                    |
[512, 1K)              2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[1K, 2K)               0 |                                                    |
[2K, 4K)               0 |                                                    |
[4K, 8K)               0 |                                                    |
[8K, 16K)              0 |                                                    |
[16K, 32K)             0 |                                                    |
[32K, 64K)             0 |                                                    |
[64K, 128K)            0 |                                                    |
[128K, 256K)           0 |                                                    |
[256K, 512K)           0 |                                                    |
[512K, 1M)             0 |                                                    |
[1M, 2M)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[2M, 4M)               0 |                                                    |
[4M, 8M)               0 |                                                    |
[8M, 16M)              0 |                                                    |
[16M, 32M)             0 |                                                    |
[32M, 64M)             0 |                                                    |
[64M, 128M)            0 |                                                    |
[128M, 256M)           0 |                                                    |
[256M, 512M)           0 |                                                    |
[512M, 1G)             0 |                                                    |
[1G, 2G)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |

"#;

#[test]
fn hist_with_negative_bucket_and_empty_rows() {
    let samples = none_keys(&[5, 1000, 1000, -3, 0, 1, 2, 3, 1048576, 2000000000]);
    let h = agg_map("@h", Type::None, Type::Hist, &samples);
    assert_eq!(exit_dump(&[h], text), after_attaching(HIST));
}

// BEGIN { @h["b"] = hist(5); @h["b"] = hist(6); @h["a"] = hist(100); @h["a"] = hist(100);
//   @h["a"] = hist(100); @h["c"] = hist(0); exit(); }
const HIST_KEYED: &str = r#"Attaching 1 probe...


@h[c]: 
[0]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@h[b]: 
[4, 8)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@h[a]: 
[64, 128)              3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

"#;

#[test]
fn keyed_hists_ordered_by_total_count() {
    let samples = keyed(&[
        (string("b", 16), 5),
        (string("b", 16), 6),
        (string("a", 16), 100),
        (string("a", 16), 100),
        (string("a", 16), 100),
        (string("c", 16), 0),
    ]);
    let h = agg_map("@h", STR, Type::Hist, &samples);
    assert_eq!(exit_dump(&[h], text), after_attaching(HIST_KEYED));
}

// BEGIN { @l = lhist(3000, 0, 4096, 1024); @l = lhist(-1, 0, 4096, 1024);
//   @l = lhist(99999, 0, 4096, 1024); @l = lhist(99999, 0, 4096, 1024);
//   @n = lhist(150, 100, 300, 50); @n = lhist(260, 100, 300, 50); @n = lhist(5, 100, 300, 50);
//   @m = lhist(3000000, 0, 4194304, 1048576); @m = lhist(10, 0, 4194304, 1048576);
//   @e = lhist(100, 0, 100, 10); @e = lhist(5, 0, 100, 10);
//   @u = lhist(7, 0, 10, 3); @u = lhist(9, 0, 10, 3); @u = lhist(10, 0, 10, 3); exit(); }
const LHIST: &str = r#"Attaching 1 probe...


@e: 
[0, 10)                1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[10, 20)               0 |                                                    |
[20, 30)               0 |                                                    |
[30, 40)               0 |                                                    |
[40, 50)               0 |                                                    |
[50, 60)               0 |                                                    |
[60, 70)               0 |                                                    |
[70, 80)               0 |                                                    |
[80, 90)               0 |                                                    |
[90, 100)              0 |                                                    |
[100, ...)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@l: 
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[0, 1K)                0 |                                                    |
[1K, 2K)               0 |                                                    |
[2K, 3K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[3K, 4K)               0 |                                                    |
[4K, ...)              2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@m: 
[0, 1M)                1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[1M, 2M)               0 |                                                    |
[2M, 3M)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@n: 
(..., 100)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[100, 150)             0 |                                                    |
[150, 200)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[200, 250)             0 |                                                    |
[250, 300)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@u: 
[6, 9)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[10, ...)              2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

"#;

#[test]
fn lhist_under_and_overflow_and_suffixes() {
    assert_eq!(exit_dump(&lhist_maps(), text), after_attaching(LHIST));
}

// BEGIN { @c["x"] = count(); @c["y"] = count(); @c["y"] = count(); @c["z"] = count(); (x3)
//   @s[1] = sum(10); @s[2] = sum(-30); @s[3] = sum(5); @mn = min(-4); @mn = min(8);
//   @mx[1,"a"] = max(3); @mx[1,"a"] = max(9); @a[1] = avg(10); @a[1] = avg(20); @a[2] = avg(-7);
//   @st = stats(10); @st = stats(11); @stk["k"] = stats(3); @stk["j"] = stats(100);
//   @i = 5; @neg = -7; @u = (uint64)9223372036854775808; @str[1] = "hello"; @str[0] = "abc";
//   @t[1] = (1, "two", (3, 4)); @t[0] = (5, "x", (6, 7)); @ik[3] = 1; @ik[-1] = 2; @ik[10] = 3;
//   exit(); }
const SCALARS: &str = r#"Attaching 1 probe...


@a[2]: -7
@a[1]: 15

@c[x]: 1
@c[y]: 2
@c[z]: 3
@i: 5
@ik[3]: 1
@ik[-1]: 2
@ik[10]: 3
@mn: -4
@mx[1, a]: 9
@neg: -7
@s[2]: -30
@s[3]: 5
@s[1]: 10
@st: count 2, average 10, total 21

@stk[k]: count 1, average 3, total 3
@stk[j]: count 1, average 100, total 100

@str[0]: abc
@str[1]: hello
@t[0]: (5, x, (6, 7))
@t[1]: (1, two, (3, 4))
@u: 9223372036854775808
"#;

#[test]
fn scalar_aggregations_keys_and_blank_lines() {
    assert_eq!(exit_dump(&scalar_maps(), text), after_attaching(SCALARS));
}

// BEGIN { @q[(uint32)-1] = 1; @r[(uint8)200] = 1; @v[(uint16)65535, (uint64)-1] = 1;
//   @t = ((uint32)-1, (uint64)-1, (int8)-1, (uint8)255); @s[(int8)-3] = 1;
//   @k[-5, "x"] = (uint32)-1; exit(); }
const INT_WIDTHS: &str = r#"Attaching 1 probe...


@k[-5, x]: 4294967295
@q[4294967295]: 1
@r[200]: 1
@s[-3]: 1
@t: (4294967295, 18446744073709551615, -1, 255)
@v[65535, -1]: 1
"#;

#[test]
fn integer_keys_print_as_stored_int64_values_by_their_type() {
    assert_eq!(
        exit_dump(&int_width_maps(), text),
        after_attaching(INT_WIDTHS)
    );
}

// BEGIN { @k[1] = ksym(<tcp_v4_rcv+5>); @k[2] = ksym(<abort+2>); @kk[ksym(<abort+2>)] = 1;
//   @p = probe; @pk[probe] = count(); @u[1] = usym(0x1234); @ks = ksym(1);
//   @t = (ksym(<abort+2>), probe, 1); print(ksym(<abort+2>)); print(probe); exit(); }
const SYMBOLS: &str = r#"Attaching 1 probe...
abort
BEGIN


@k[1]: tcp_v4_rcv@k[2]: abort
@kk[abort]: 1
@ks: 0x1
@p: BEGIN
@pk[BEGIN]: 1
@t: (abort, BEGIN, 1)
@u[1]: 0x1234
"#;

#[test]
fn symbol_values_run_together_and_keys_resolve() {
    let printed = after_attaching(SYMBOLS);
    let dump = printed.split_once("BEGIN\n").map_or("", |(_, rest)| rest);
    assert_eq!(exit_dump(&symbol_maps(), text), dump);
}

// BEGIN { @x[1] = count(); clear(@x); exit(); } prints one empty line for @x;
// with avg(1) instead of count() it prints two.
#[test]
fn empty_maps_print_blank_lines() {
    let empty_count = map("@x", Type::I64, Type::Count);
    assert_eq!(text(&empty_count), "\n");
    let empty_avg = map("@x", Type::I64, Type::Avg);
    assert_eq!(text(&empty_avg), "\n\n");
    let empty_hist = map("@x", Type::None, Type::Hist);
    assert_eq!(text(&empty_hist), "\n");
}

// BEGIN { @x = stats(5); zero(@x); exit(); }, and the same with hist(5), avg(5), max(5).
#[test]
fn zeroed_maps_print_zero_values_and_bare_hist_headers() {
    let zero_pair = || vec![vec![0u8; 16]; CPUS];
    let zeroed = |ty: Type, key: Vec<u8>, values: Vec<Vec<u8>>| {
        let mut m = map("@x", Type::None, ty);
        m.entries
            .push(rtrace_stdlib::output::RawEntry { key, values });
        text(&m)
    };
    assert_eq!(
        zeroed(Type::Stats, vec![], zero_pair()),
        "@x: count 0, average 0, total 0\n\n"
    );
    assert_eq!(zeroed(Type::Avg, vec![], zero_pair()), "@x: 0\n\n");
    assert_eq!(zeroed(Type::Max, vec![], zero_pair()), "@x: 0\n");
    assert_eq!(zeroed(Type::Hist, int(3), vec![int(0); CPUS]), "@x: \n\n");
}

// From a tracepoint run: `@bytes = hist(args->count)` under a dd/head load
// (bpftrace 0.17 output; bars are truncated, 135/150 of 52 is 46).
const BARS: &str = "@bytes: \n\
[64, 128)             25 |@@@@@@@@                                            |\n\
[128, 256)             0 |                                                    |\n\
[256, 512)             0 |                                                    |\n\
[512, 1K)            135 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@      |\n\
[1K, 2K)              65 |@@@@@@@@@@@@@@@@@@@@@@                              |\n\
[2K, 4K)               0 |                                                    |\n\
[4K, 8K)             150 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\
\n";

#[test]
fn bars_scale_to_the_largest_bucket() {
    let mut m = map("@bytes", Type::None, Type::Hist);
    for (bucket, count) in [(8, 25), (11, 135), (12, 65), (14, 150)] {
        // Split each count over the CPUs unevenly.
        let values = vec![int(count / 3), int(count - count / 3)];
        m.entries.push(rtrace_stdlib::output::RawEntry {
            key: int(bucket),
            values,
        });
    }
    assert_eq!(text(&m), BARS);
}

// BEGIN { @h[1, "a"] = hist(5); @l[2, "b"] = lhist(7, 0, 10, 5); @x[2, "b"] = "q";
//   @x[1, "c"] = "r"; @x[1, "a"] = "s"; @x[-1, "a"] = "t"; exit(); }
const MULTI_KEY: &str = "\n\n@h[1, a]: \n\
[4, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\
\n\
@l[2, b]: \n\
[5, 10)                1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\
\n\
@x[1, a]: s\n\
@x[1, c]: r\n\
@x[2, b]: q\n\
@x[-1, a]: t\n";

#[test]
fn multi_keys_sort_component_by_component_with_unsigned_ints() {
    let kt = Type::Tuple(vec![Type::I64, STR]);
    let k = |n: i64, s: &str| tuple(&[(Type::I64, int(n)), (STR, string(s, 16))]);
    let lhist = Type::Lhist {
        min: 0,
        max: 10,
        step: 5,
    };
    let strings = [
        (k(2, "b"), "q"),
        (k(1, "c"), "r"),
        (k(1, "a"), "s"),
        (k(-1, "a"), "t"),
    ];
    let strings: Vec<(Vec<u8>, Vec<u8>)> = strings
        .iter()
        .map(|(k, v)| (k.clone(), string(v, 16)))
        .collect();
    let maps = [
        agg_map("@h", kt.clone(), Type::Hist, &[(k(1, "a"), 5)]),
        agg_map("@l", kt.clone(), lhist, &[(k(2, "b"), 7)]),
        plain_map("@x", kt, STR, &strings),
    ];
    assert_eq!(exit_dump(&maps, text), MULTI_KEY);
}

// BEGIN { @a = avg(-10); @a = avg(-1); @st = stats(-5); @st = stats(2); exit(); }
// printed `@a: -5` and `@st: count 2, average -1, total -3`: the division
// truncates toward zero.
#[test]
fn negative_averages_truncate_toward_zero() {
    let maps = [
        agg_map("@a", Type::None, Type::Avg, &none_keys(&[-10, -1])),
        agg_map("@st", Type::None, Type::Stats, &none_keys(&[-5, 2])),
    ];
    let want = "\n\n@a: -5\n\n@st: count 2, average -1, total -3\n\n";
    assert_eq!(exit_dump(&maps, text), want);
}
