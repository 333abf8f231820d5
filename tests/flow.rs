//! End-to-end: loops and map queries on the real kernel with a workload whose
//! reads the test knows exactly — `for` over maps (order by value descending)
//! and ranges, `break`/`continue` in `for`/`while`/`unroll`, `has_key`, `len`,
//! aggregations read as numbers in kernel probes and predicates, `%*d` widths,
//! and the checker's errors for misuse.

mod common;

use common::*;
use std::time::Duration;

/// Read sizes: size 1 three times, 2 twice, 3 four times, 4 once (10 reads).
const SIZES: [usize; 10] = [1, 1, 1, 2, 2, 3, 3, 3, 3, 4];

/// Run `script` (its `$1` is the workload's pid) around the read workload.
fn traced(script: &str) -> String {
    let dir = std::env::temp_dir().join(format!("rtrace-flow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("flow-{:x}.rt", fxhash(script)));
    std::fs::write(&path, script).unwrap();
    let work = ReadWorkload::spawn(&SIZES);
    let pid = work.pid.to_string();
    let out = trace_while(
        &[path.to_str().unwrap(), &pid],
        move || work.release(),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "rtrace failed: {}", stderr(&out));
    stdout(&out)
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The lines of `out` that start with `prefix`, in order.
fn lines_with(out: &str, prefix: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

const READS: &str = "tracepoint:syscalls:sys_enter_read /pid == $1 && args->fd == 100/";
const EXIT: &str = "tracepoint:syscalls:sys_enter_exit_group /pid == $1/ { exit(); }";

#[test]
fn end_block_iterates_maps_by_value_descending() {
    let script = format!(
        r#"{READS} {{
    @c[args->count] = count();
    @s[args->count] = sum(args->count);
    @a[args->count] = avg(args->count * 10);
    @m[args->fd, args->count] = count();
    @plain[args->count] = args->count * 100;
}}
{EXIT}
END {{
    for ($kv : @c) {{ printf("c %d %d\n", $kv.0, $kv.1); }}
    for ($kv : @s) {{ printf("s %d %d\n", $kv.0, $kv.1); }}
    for ($kv : @a) {{ printf("a %d %d\n", $kv.0, $kv.1); }}
    for ($kv : @m) {{ printf("m %d,%d %d\n", $kv.0.0, $kv.0.1, $kv.1); }}
    for ($kv : @plain) {{ printf("p %d %d\n", $kv.0, $kv.1); }}
    clear(@c); clear(@s); clear(@a); clear(@m); clear(@plain);
}}
"#
    );
    let out = traced(&script);
    assert_eq!(lines_with(&out, "c "), ["c 3 4", "c 1 3", "c 2 2", "c 4 1"]);
    // Sums 3→12, 2→4, 4→4, 1→3: the tie of 2 and 4 goes by key.
    assert_eq!(
        lines_with(&out, "s "),
        ["s 3 12", "s 2 4", "s 4 4", "s 1 3"]
    );
    assert_eq!(
        lines_with(&out, "a "),
        ["a 4 40", "a 3 30", "a 2 20", "a 1 10"]
    );
    assert_eq!(
        lines_with(&out, "m "),
        ["m 100,3 4", "m 100,1 3", "m 100,2 2", "m 100,4 1"]
    );
    assert_eq!(
        lines_with(&out, "p "),
        ["p 4 400", "p 3 300", "p 2 200", "p 1 100"]
    );
}

#[test]
fn top_n_with_break_and_nested_loops() {
    let script = format!(
        r#"{READS} {{ @c[args->count] = count(); }}
{EXIT}
END {{
    $i = 0;
    for ($kv : @c) {{
        if ($i >= 2) {{ break; }}
        printf("top %d: %d\n", $kv.0, $kv.1);
        $i++;
    }}
    // Every pair (a, b) with a's count above b's: the inner loop sees the same map.
    $pairs = 0;
    for ($x : @c) {{
        for ($y : @c) {{
            if ($y.1 >= $x.1) {{ continue; }}
            $pairs++;
        }}
    }}
    printf("pairs %d\n", $pairs);
    clear(@c);
}}
"#
    );
    let out = traced(&script);
    assert_eq!(lines_with(&out, "top "), ["top 3: 4", "top 1: 3"]);
    // Counts 4, 3, 2, 1 are distinct: 6 ordered pairs.
    assert_eq!(lines_with(&out, "pairs "), ["pairs 6"]);
}

#[test]
fn has_key_and_len_in_user_space_and_kernel() {
    let script = format!(
        r#"{READS} {{
    if (has_key(@seen, args->count)) {{ @dup = count(); }}
    @seen[args->count] = 1;
}}
{EXIT}
END {{
    printf("len %d\n", len(@seen));
    printf("has %d %d\n", has_key(@seen, 3), has_key(@seen, 99));
    printf("dup %d\n", @dup);
    clear(@seen); clear(@dup);
}}
"#
    );
    let out = traced(&script);
    assert_eq!(lines_with(&out, "len "), ["len 4"]);
    assert_eq!(lines_with(&out, "has "), ["has 1 0"]);
    // 10 reads of 4 distinct sizes: 6 saw their size already.
    assert_eq!(lines_with(&out, "dup "), ["dup 6"]);
}

#[test]
fn range_loops_break_and_continue_in_kernel_probes() {
    let script = format!(
        r#"{READS} {{
    // 0+1+3+4+5+6 = 19 per read (2 skipped, stop at 7)
    for ($i : 0..10) {{
        if ($i == 2) {{ continue; }}
        if ($i == 7) {{ break; }}
        @range = sum($i);
    }}
    $j = 0;
    while (1) {{
        $j++;
        if (($j & 1) == 1) {{ continue; }}
        if ($j >= 6) {{ break; }}
        @while_even = count();
    }}
    unroll (5) {{
        @unroll = count();
        if (args->count >= 3) {{ break; }}
    }}
    // A variable bound the verifier can limit (at most 4 iterations).
    $end = args->count;
    if ($end > 4) {{ $end = 4; }}
    for ($k : 1..$end + 1) {{ @upto4 = count(); }}
}}
{EXIT}
END {{
    printf("range %d while %d unroll %d upto4 %d\n", @range, @while_even, @unroll, @upto4);
    clear(@range); clear(@while_even); clear(@unroll); clear(@upto4);
}}
"#
    );
    let out = traced(&script);
    // while: $j = 2 and 4 count, 6 breaks: 2 per read. unroll: sizes 1 and 2
    // (5 reads) run 5 times, sizes 3 and 4 (5 reads) once. upto4: size per read.
    let upto4: usize = SIZES.iter().sum();
    assert_eq!(
        lines_with(&out, "range "),
        [format!(
            "range {} while 20 unroll 30 upto4 {upto4}",
            19 * 10
        )]
    );
}

#[test]
fn range_loops_in_user_space() {
    let out = run(
        &[
            "-e",
            r#"BEGIN {
                $sum = 0;
                for ($i : -3..4) { $sum += $i; }
                $n = 0;
                for ($i : 5..5) { $n++; }
                for ($i : 0..3) { for ($j : 0..$i) { $n += 10; } }
                printf("sum %d n %d\n", $sum, $n);
                exit();
            }"#,
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // -3..4 sums to 0 - ... = -3-2-1+0+1+2+3 = 0; inner loops run 0+1+2 times.
    assert!(stdout(&out).contains("sum 0 n 30\n"), "{}", stdout(&out));
}

#[test]
fn aggregations_read_as_numbers_in_kernel_probes_and_predicates() {
    let script = format!(
        r#"{READS} {{
    @n = count();
    @total = sum(args->count);
    @mean = avg(args->count);
    @lo = min(args->count);
    @hi = max(args->count);
    @per[args->count] = count();
    if (@n > 5) {{ @late = count(); }}
    @snap_total = @total;
    @snap_mean = @mean;
    @snap_lo = @lo;
    @snap_hi = @hi;
    @snap_per3 = @per[3];
}}
tracepoint:syscalls:sys_exit_read /pid == $1 && @n > 7/ {{ @after7 = count(); }}
{EXIT}
END {{
    printf("late %d after7 %d total %d mean %d lo %d hi %d per3 %d\n",
        @late, @after7, @snap_total, @snap_mean, @snap_lo, @snap_hi, @snap_per3);
    printf("user n %d mean %d\n", @n, @mean);
    clear(@n); clear(@total); clear(@mean); clear(@lo); clear(@hi); clear(@per);
    clear(@late); clear(@after7); clear(@snap_total); clear(@snap_mean);
    clear(@snap_lo); clear(@snap_hi); clear(@snap_per3);
}}
"#
    );
    let out = traced(&script);
    // The read workload's other reads (none on fd 100 before the test reads) do
    // not count; sys_exit_read of reads 8, 9, 10 sees @n > 7. Sum 23, mean 2.
    assert_eq!(
        lines_with(&out, "late "),
        ["late 5 after7 3 total 23 mean 2 lo 1 hi 4 per3 4"]
    );
    assert_eq!(lines_with(&out, "user "), ["user n 10 mean 2"]);
}

#[test]
fn block_scoped_let_and_star_widths() {
    let out = run(
        &[
            "-e",
            r#"BEGIN {
                $x = 1;
                if ($x) { let $y = 5; $x = $y + 1; }
                { let $y = "text"; printf("[%*s|%-*d|%.*s]\n", 6, $y, 4, $x, 2, $y); }
                exit();
            }"#,
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("[  text|6   |te]\n"),
        "{}",
        stdout(&out)
    );
}

/// Run a script that must be rejected; its stderr.
fn rejected(script: &str) -> String {
    let out = run(&["-e", script], None);
    assert!(!out.status.success(), "accepted: {script}");
    stderr(&out)
}

#[test]
fn checker_errors_point_at_the_source() {
    let e = rejected("BEGIN { $x = 1; for ($kv : $x) { } }");
    assert!(
        e.contains("a `for` loop iterates over a map, found int64") && e.contains("stdin:1:28"),
        "{e}"
    );
    let e = rejected(r#"BEGIN { @a[1] = 1; for ($kv : @a) { } printf("%d\n", $kv.1); }"#);
    assert!(
        e.contains("variable $kv is not in scope here") && e.contains("stdin:1:54"),
        "{e}"
    );
    assert_eq!(e.matches("error:").count(), 1, "{e}");
    let e = rejected(r#"BEGIN { for ($i : "a"..3) { } }"#);
    assert!(
        e.contains("the bounds of a range must be integers, found string[2]")
            && e.contains("stdin:1:19"),
        "{e}"
    );
    let e = rejected("BEGIN { if (1) { let $y = 1; } print($y); }");
    assert!(
        e.contains("variable $y is not in scope here") && e.contains("stdin:1:38"),
        "{e}"
    );
    // (for over a map and len() in kernel probes work now: tests/kernel_for.rs)
    let e = rejected("BEGIN { @x = 1; for ($kv : @x) { } }");
    assert!(e.contains("@x has no keys to iterate over"), "{e}");
    let e = rejected("BEGIN { @h[1] = hist(3); for ($kv : @h) { } }");
    assert!(
        e.contains("@h holds hist and cannot be iterated over"),
        "{e}"
    );
    let e = rejected("BEGIN { break; }");
    assert!(
        e.contains("`break` and `continue` must be inside a loop"),
        "{e}"
    );
}

/// Seed 004.05 (stap `foreach (i in s- limit 10)` over connect counts): three
/// connects from a thread named `flowconn` print first, as `flowconn: 3`.
#[test]
fn seed_connect_top_ten() {
    let script = r#"tracepoint:syscalls:sys_enter_connect /pid == $1/ { @connect[comm] = count(); }
tracepoint:syscalls:sys_enter_getppid /pid == $1/ { exit(); }
END {
    $i = 0;
    for ($kv : @connect) {
        if ($i >= 10) { break; }
        printf("%s: %d\n", $kv.0, $kv.1);
        $i++;
    }
    clear(@connect);
}
"#;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let pid = std::process::id().to_string();
    let out = trace_while(
        &["-e", script, &pid],
        move || {
            std::thread::Builder::new()
                .name("flowconn".into())
                .spawn(move || {
                    for _ in 0..3 {
                        let _c = std::net::TcpStream::connect(addr).unwrap();
                    }
                    // SAFETY: plain getppid(2), the script's signal to end.
                    unsafe { libc::getppid() };
                })
                .unwrap()
                .join()
                .unwrap();
        },
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let first = text.lines().find(|l| l.contains(": ")).unwrap_or_default();
    assert_eq!(first, "flowconn: 3", "{text}");
}

/// Seed 003.40 (futexes.stp): the END format that reads an avg() map by the
/// iterated key, on known data.
#[test]
fn seed_futex_report_format() {
    let out = run(
        &[
            "-e",
            r#"BEGIN {
                @contended["java", 4457, 0x7f5da0bbd548] = count();
                @avg_us["java", 4457, 0x7f5da0bbd548] = avg(1);
                @contended["java", 4457, 0x7f5d23c5e1b4] = count();
                @contended["java", 4457, 0x7f5d23c5e1b4] = count();
                @contended["java", 4457, 0x7f5d23c5e1b4] = count();
                @avg_us["java", 4457, 0x7f5d23c5e1b4] = avg(70000);
                @avg_us["java", 4457, 0x7f5d23c5e1b4] = avg(70002);
                for ($kv : @contended) {
                    printf("%s[%d] lock %p contended %d times, %d avg us\n",
                        $kv.0.0, $kv.0.1, $kv.0.2, $kv.1, @avg_us[$kv.0]);
                }
                clear(@contended); clear(@avg_us);
                exit();
            }"#,
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        lines_with(&stdout(&out), "java["),
        [
            "java[4457] lock 0x7f5d23c5e1b4 contended 3 times, 70001 avg us",
            "java[4457] lock 0x7f5da0bbd548 contended 1 times, 1 avg us",
        ]
    );
}
