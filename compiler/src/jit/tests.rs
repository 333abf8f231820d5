//! The two tunings against each other: the same programs, compiled quick and
//! optimised, make the same host calls with the same arguments.

use super::{compile, compile_tuned, Host, Tuning, QUICK_ABOVE};
use crate::ir::{AggOp, Builtin, MapId};
use crate::pipeline;
use std::collections::HashMap;

/// Records every host call; map values persist so that reads see writes, and
/// builtins count up so that their order matters.
#[derive(Default)]
struct Log {
    calls: Vec<String>,
    values: HashMap<(MapId, Option<Vec<u8>>), Vec<u8>>,
    ticks: u64,
}

impl Host for Log {
    fn map_read(&mut self, map: MapId, key: Option<&[u8]>, dst: &mut [u8]) -> bool {
        let found = self.values.get(&(map, key.map(<[u8]>::to_vec)));
        self.calls.push(format!("read {map} {key:?} {found:?}"));
        match found {
            Some(v) => {
                dst.copy_from_slice(v);
                true
            }
            None => false,
        }
    }

    fn map_write(&mut self, map: MapId, key: Option<&[u8]>, src: &[u8]) {
        self.calls.push(format!("write {map} {key:?} {src:?}"));
        self.values
            .insert((map, key.map(<[u8]>::to_vec)), src.to_vec());
    }

    fn map_agg(&mut self, map: MapId, key: Option<&[u8]>, op: AggOp, val: i64) {
        self.calls.push(format!("agg {map} {key:?} {op:?} {val}"));
    }

    fn map_delete(&mut self, map: MapId, key: Option<&[u8]>) {
        self.calls.push(format!("delete {map} {key:?}"));
        self.values.remove(&(map, key.map(<[u8]>::to_vec)));
    }

    fn emit(&mut self, record: &[u8]) {
        self.calls.push(format!("emit {record:?}"));
    }

    fn builtin(&mut self, which: Builtin) -> u64 {
        self.ticks += 1;
        let value = self.ticks.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7;
        self.calls.push(format!("builtin {which:?} {value}"));
        value
    }

    fn comm(&mut self, dst: &mut [u8]) {
        dst[..4].copy_from_slice(b"test");
    }

    fn read(&mut self, dst: &mut [u8], addr: u64, user: bool) -> bool {
        self.calls.push(format!("mem {addr} {} {user}", dst.len()));
        dst.fill(0x5A);
        true
    }

    fn read_str(&mut self, dst: &mut [u8], addr: u64, user: bool) {
        self.calls.push(format!("str {addr} {} {user}", dst.len()));
        dst.fill(b's');
    }
}

/// User-space blocks using every kind of IR instruction and control flow.
const SCRIPTS: &[&str] = &[
    r#"BEGIN {
        $a = pid; $b = nsecs % 7; $z = 0; $m = -1;
        @q = $a / $b; @r = $a % $b; @s = $a / $z; @t = $a % $z;
        @u = (int64)$a / $m; @v = (int64)$a % $m; @w = -(int64)$a / 3;
        @x = ($a << ($b + 60)) | ($a >> 3) ^ ~$a; @y = (int64)$a >> 5;
        @c = ($a < $b) + ($a >= $b) * 2 + ($a == $a) * 4 + ((int64)$m < 0) * 8;
        @e = (uint8)$a + (int16)$a + (uint32)$a + (int8)$m;
        @f = $a > $b ? $a - $b : $b - $a;
        exit();
    }"#,
    r#"BEGIN {
        $i = 0; $sum = 0;
        while ($i < 50) {
            $i++;
            if ($i % 3 == 0) { continue; }
            if ($i > 40) { break; }
            $sum += $i * tid;
        }
        @sum = $sum;
        unroll (4) { @n = count(); $sum = $sum * 3 + 1; }
        @last = $sum;
        exit();
    }"#,
    r#"BEGIN {
        @h[pid % 4] = 1; @h[2] = 5; @h[3] = @h[2] + @h[pid % 4];
        @k["a", 1] = 2; @k["b", 2] = @k["a", 1] * 3;
        delete(@h[2]);
        @cnt[1] = count(); @sm = sum(pid % 100); @mn = min(nsecs % 50);
        @mx = max(uid); @av = avg(gid); @st = stats(pid % 9);
        @hi = hist(pid % 1000); @lh = lhist(tid % 100, 0, 100, 10);
        if (@k["b", 2] == 6) { @ok = 1; } else { @ok = 0; }
        $s = "abc"; if ($s == "abc") { @streq = 1; }
        $t = (1, "x", pid); @tup = $t.2;
        // (A string argument shorter than its record field would leave
        // unwritten padding bytes in the record, different from run to run.)
        printf("%d %d %x\n", pid, @k["b", 2], nsecs);
        print(@h);
        exit();
    }"#,
];

/// Runs `functions` of `module` compiled with `tuning`; the host calls.
fn run(compiled: &pipeline::Compiled, tuning: Tuning) -> Vec<String> {
    let program =
        compile_tuned(&compiled.module, &compiled.user, tuning).unwrap_or_else(|e| panic!("{e}"));
    let mut log = Log::default();
    for k in 0..program.len() {
        program.run(k, &mut log);
    }
    log.calls
}

#[test]
fn quick_and_optimised_code_make_the_same_host_calls() {
    for script in SCRIPTS {
        let compiled = pipeline::compile(script, &Default::default())
            .unwrap_or_else(|e| panic!("{}", e.render("t.bt", script, false)));
        assert!(!compiled.user.is_empty());
        let optimised = run(&compiled, Tuning::Optimised);
        assert!(optimised.len() > 10, "{optimised:?}");
        assert_eq!(run(&compiled, Tuning::Quick), optimised, "{script}");
    }
}

#[test]
fn large_programs_get_the_quick_tuning() {
    assert_eq!(Tuning::for_size(QUICK_ABOVE), Tuning::Optimised);
    assert_eq!(Tuning::for_size(QUICK_ABOVE + 1), Tuning::Quick);
    // Both tunings run through the public entry point.
    let body = "$x = $x + nsecs * (pid & 7);".repeat(300);
    let script = format!("BEGIN {{ $x = 1; {body} @x = $x; exit(); }}");
    let compiled = pipeline::compile(&script, &Default::default()).expect("compiles");
    let program = compile(&compiled.module, &compiled.user).expect("jits");
    let mut log = Log::default();
    program.run(0, &mut log);
    assert_eq!(run(&compiled, Tuning::Optimised), log.calls);
}
