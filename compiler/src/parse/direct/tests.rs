//! The direct parser against pest: same tree (spans included) whenever it accepts, and it
//! accepts the constructs scripts are made of.

use crate::ast::Program;
use crate::diag::Diagnostic;
use crate::parse::{scan, with_pest};

/// One script per construct of `rtrace.pest`, each written a few ways.
const CONSTRUCTS: &[&str] = &[
    "BEGIN { }",
    "macro m(x, $v, @map) { $v = x; @map[1] = 2; }\nBEGIN { m(1, $a, @b); }",
    "macro none() { 1 }\nk:f { } macro two ( a , b ) { a + b } BEGIN { $x = two(1, none()) }",
    "macro_x:f { } macro m(){ }",
    "BEGIN { ; ; }",
    "#!/usr/bin/env bpftrace\nBEGIN { exit(); }",
    "#include <linux/sched.h>\n#define X(a) \\\n  (a)\nBEGIN { printf(\"%d\\n\", 1); }",
    "struct S { int a; struct { int b; } c; };\nunion U { int x; /* } */ }\nBEGIN { }",
    "typedef unsigned int u_t;\nenum E { A, B };\nstruct T // ;\n { int a; }\nk:f { }",
    "config = { max_map_keys = 10; stack_mode = perf }\nBEGIN { }",
    "config = { ; a = 1;; }\nBEGIN { }",
    "kprobe:vfs_read, kretprobe:vfs_read,tracepoint:syscalls:sys_enter_* { @[probe] = count(); }",
    "uprobe:/bin/bash:readline { } uprobe:\"/a b:c\":f { } usdt:$1:query__start { }",
    "interval:s:1 { print(@); clear(@); } profile:hz:99 { @[kstack] = count(); }",
    "k:f+0x10, k:a.b, hardware:cache-misses:1000000, software:cpu-clock:1 { }",
    "kprobe:f /pid == 1/ { }",
    "kprobe:f / (arg0 / 2) > 1 && comm != \"x\" / { }",
    "kprobe:f /pid ? 1 : 0/ { } k:g /$1 > 2 ? arg0 / 2 : 3/ { }",
    "BEGIN < @x = 1; @y = (2 > 1); >",
    "BEGIN < if $a > 1 { @b = 1 } $c = @d >> 1; $e = 2 >= 1 > \nEND < printf(\"x\") >",
    "BEGIN { $x = 1; $y += 2; $z -= 3; @a *= 4; @b /= 5; @c %= 6; @d &= 7; @e |= 8; @f ^= 9 }",
    "BEGIN { $x <<= 1; $y >>= 2; @[1, 2] = 3; @m[\"a\"] = 4; @ = 5 }",
    "BEGIN { $x = 1 + 2 * 3 - 4 / 5 % 6 << 7 >> 8 < 9 <= 10 > 11 >= 12 == 13 != 14 & 15 ^ 16 | 17 && 18 || 19; }",
    "BEGIN { $x = a ? b : c ? d : e; $y = (a ? b : c) ? d : e; $z = a ? b ? c : d : e }",
    "BEGIN { $x = -1; $y = !$x; $z = ~$x; $p = *$q; $r = &$s; ++$i; --$j; $k++; $l--; @m++; --@n }",
    "BEGIN { $x = - - 1; $y = !!$x; $z = -$a.b; $w = *$p->q[1]; }",
    "BEGIN { $x = (uint8)1; $y = (int64 *)arg0; $z = (struct sock *)arg0->sk_state; }",
    "BEGIN { $a = (u8)$x; $b = (__s64)$x; $c = (pid_t)$x; $d = (size_t *)0; $e = (bool)1; }",
    "BEGIN { $a = (unsigned int)$x; $b = (unsigned\tlong long)$x; $c = (signed char)$x; }",
    "BEGIN { $a = (struct\n task_struct **)curtask; $b = (union u *)0; $c = (enum e)1; }",
    "BEGIN { $a = (uint8[4])$x; $b = (int8 * [2])$y; $c = (string)$z; $d = (void *)0; }",
    "BEGIN { $a = (pid) - 1; $b = (s8_t) - 1; $c = (u8x) + 1; $d = (foo * 2); $e = (_t) }",
    "BEGIN { $a = (__be16)$x; $b = (__le64)$y; $c = (boolean *)0; $d = (int8)(int16)1; }",
    "BEGIN { $x = sizeof(uint64); $y = sizeof($z); $w = sizeof(struct sock); $v = sizeof(x + 1) }",
    "BEGIN { $x = sizeof(int8 *) + sizeof(char[4]); $y = sizeof(pid); }",
    "BEGIN { $x = offsetof(struct sock, sk_state); $y = offsetof(foo, a.b.c); $z = offsetof(u_t *, d) }",
    "BEGIN { $t = (1, \"a\", (2, 3)); $u = $t.0; $v = $t.2.1; $w = ((1)); }",
    "BEGIN { $x = args.filename; $y = args->fd; $z = curtask->mm->owner.pid; $a = $p [ 1 ] [2]; }",
    "BEGIN { $x = @m[1].f; $y = @[1][2]; $z = @x [ 1 , 2 ]; $w = @; }",
    "BEGIN { $x = $1 + $2; $y = $#; printf(\"%s %d\", str($1), $#); }",
    "BEGIN { $x = 0x1F + 010 + 1_000 + 1e3 + 7u + 8ul + 9ULL + 0e9999 + 18446744073709551615; }",
    "BEGIN { $s = \"a\\n\\t\\r\\\"\\\\\\'\\0\\101\\x41\\7\"; $t = \"é ünï €\"; $u = \"\"; }",
    "BEGIN { if (1) { } if 1 { $x = 1 } else { $x = 2 } }",
    "BEGIN { if $a { } else if $b { } else if ($c) { $d = 1; } else { } }",
    "BEGIN { if (1) { } else if 2 { } }",
    "BEGIN { while ($i < 10) { $i++; if ($i == 5) { break; } continue; } }",
    "BEGIN { unroll(3) { @x++ } unroll (2) { } }",
    "BEGIN { for ($kv : @m) { print($kv.0); } for $i : 0..10 { } for ($j : 1 .. $n + 1) { } }",
    "BEGIN { for $kv : @m { } for ($i : (0)..(5)) { } }",
    "BEGIN { { $x = 1; } { } ; { { } } }",
    "BEGIN { let $x; let $y = 1; let $z = $y + 1 }",
    "BEGIN { return; } END { exit() }",
    "BEGIN { printf(\"%d %s\\n\", pid, comm); time(\"%H\"); print((1, 2)); exit(); }",
    "BEGIN { @x = hist(arg0); @y = lhist(arg0, 0, 100, 10); @z = stats(arg0); delete(@x[1]); }",
    "BEGIN {\n  // line comment\n  $x = 1; /* block\n comment */ $y = /**/2;\n}\n// trailing",
    "BEGIN\t{\r\n\u{0C}$x\t=\r\n1\n}",
    "BEGIN{$x=1;$y=$x+-1;$z=$x- -1;$w=$x->y;$v=$x-->y}",
    "BEGIN { $x = pid(1, 2); $y = f ( ); $z = a.b.c->d[1]++ }",
    "k:f { @[comm, pid] = count(); } k:g { @s[tid] = sum(arg2); @m = max(retval); }",
    "tracepoint:syscalls:sys_enter_openat { printf(\"%s %s\\n\", comm, str(args.filename)); }",
    "BEGIN { $x = $a == $b ? \"eq\" : \"ne\"; }",
];

fn pest(source: &str) -> Result<Program, Diagnostic> {
    with_pest(source, &scan::scan(source))
}

/// Runs `check` on a thread with a stack large enough for pest in a debug build.
fn on_big_stack(check: impl FnOnce() + Send) {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(s, check)
            .expect("thread")
            .join()
            .expect("check passed");
    });
}

/// The bpftrace tools Debian installs, if any.
fn installed_tools() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/usr/sbin") else {
        return Vec::new();
    };
    let mut paths: Vec<_> = dir
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "bt"))
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

#[test]
fn accepts_every_construct_as_pest_builds_it() {
    on_big_stack(|| {
        for source in CONSTRUCTS {
            let expected =
                pest(source).unwrap_or_else(|d| panic!("pest rejects {source:?}: {d:?}"));
            let direct = super::parse(source).unwrap_or_else(|| panic!("declined {source:?}"));
            assert_eq!(direct, expected, "{source:?}");
        }
    });
}

#[test]
fn accepts_the_bpftrace_tools_as_pest_builds_them() {
    on_big_stack(|| {
        let tools = installed_tools();
        for source in &tools {
            let expected = pest(source).expect("pest parses the tool");
            let direct = super::parse(source).expect("the direct parser parses the tool");
            assert_eq!(direct, expected);
        }
    });
}

/// A small deterministic generator for mutations.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

/// Deletes, inserts or replaces one character, or truncates.
fn mutate(source: &str, rng: &mut Lcg) -> String {
    const INSERTS: &[char] = &[
        '{', '}', '(', ')', '[', ']', ';', ':', ',', '/', '<', '>', '=', '+', '-', '*', '&', '|',
        '!', '~', '"', '$', '@', '#', '.', '?', '\\', ' ', '\n', '0', 'a', '_',
    ];
    let boundaries: Vec<usize> = source
        .char_indices()
        .map(|(i, _)| i)
        .chain([source.len()])
        .collect();
    let at = boundaries[rng.below(boundaries.len())];
    let next = boundaries.iter().copied().find(|&b| b > at).unwrap_or(at);
    let insert = INSERTS[rng.below(INSERTS.len())];
    match rng.below(4) {
        0 => source[..at].to_string(),
        1 => format!("{}{}", &source[..at], &source[next..]),
        2 => format!("{}{insert}{}", &source[..at], &source[at..]),
        _ => format!("{}{insert}{}", &source[..at], &source[next..]),
    }
}

#[test]
fn never_disagrees_with_pest_on_mutated_scripts() {
    on_big_stack(|| {
        let mut rng = Lcg(7);
        let mut bases: Vec<String> = CONSTRUCTS.iter().map(|s| s.to_string()).collect();
        bases.extend(installed_tools());
        let (mut accepted, mut declined) = (0, 0);
        for base in &bases {
            for _ in 0..40 {
                let source = mutate(base, &mut rng);
                if scan::scan(&source)
                    .problem
                    .is_some_and(|p| matches!(p, scan::Problem::TooDeep { .. }))
                {
                    continue;
                }
                match super::parse(&source) {
                    Some(direct) => {
                        let expected = pest(&source);
                        assert_eq!(Ok(direct), expected, "{source:?}");
                        accepted += 1;
                    }
                    None => declined += 1,
                }
            }
        }
        assert!(
            accepted > 500 && declined > 500,
            "{accepted} accepted, {declined} declined"
        );
    });
}

#[test]
fn declines_what_only_the_pest_builder_words() {
    let cases = [
        "BEGIN { $x = 12ab; }",
        "BEGIN { $x = 18446744073709551616; }",
        "BEGIN { $x = \"\\q\"; }",
        "BEGIN { $x = $99999999999; }",
        "BEGIN { $x = $t.99999999999; }",
        "BEGIN { $x = (uint8[99999999999])$y; }",
        "k:: { }",
        "BEGIN { $x = 1 /* never closed }",
    ];
    for source in cases {
        assert_eq!(super::parse(source), None, "{source:?}");
    }
    let deep = format!("BEGIN {{ $x = 1{}; }}", " + 1".repeat(600));
    assert_eq!(super::parse(&deep), None);
}

#[test]
fn abandons_huge_expressions_on_a_small_stack() {
    // Abandoned trees are dropped recursively; the node budget keeps them small.
    let prefixes = format!("BEGIN {{ $x = {}1 )", "- ".repeat(100_000));
    let chain = format!("BEGIN {{ $x = 1{} )", " + 1".repeat(100_000));
    let postfixes = format!("BEGIN {{ $x = $y{} )", ".f".repeat(100_000));
    std::thread::scope(|s| {
        let small = std::thread::Builder::new().stack_size(256 << 10);
        let worker = small.spawn_scoped(s, || {
            [&prefixes, &chain, &postfixes]
                .iter()
                .all(|source| super::parse(source).is_none())
        });
        assert!(worker.expect("thread").join().expect("no overflow"));
    });
}
