//! kprobes and kretprobes end to end, on a kernel that has them.
//!
//! The build machine's kernel has no kprobes, so this test boots a stock Debian
//! 6.1 kernel under QEMU with `tests/vm/run-in-vm` (downloaded once into
//! `target/vm-cache`, or `$RTRACE_VM_CACHE`) and re-runs this very test binary
//! inside it, where [`guest`] runs every check against the real `rtrace` binary
//! in one boot. The workloads are TCP sends of known sizes on 127.0.0.1 made by
//! the test process itself, and the scripts filter on its pid. If the VM cannot
//! boot, the test fails.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// Set (to anything) in the environment of the test binary when it runs in the VM.
const GUEST_ENV: &str = "RTRACE_VM_GUEST";
/// This test's name, for `--exact` when the binary re-runs itself in the guest.
const TEST_NAME: &str = "kprobes_and_kretprobes_in_a_vm";
/// Names of the guest's checks; the host makes sure each one reported success.
const CHECKS: [&str; 13] = [
    "kprobe_arg2_hist",
    "fentry_args_size_hist",
    "fexit_retval_sum",
    "fentry_struct_member_key",
    "angle_bracket_block",
    "kretprobe_retval",
    "func_names_the_function",
    "wildcard_attaches_every_match",
    "kprobe_at_offset",
    "bad_offset_is_refused",
    "wildcard_block_is_one_program",
    "fentry_path_names_the_file",
    "nothing_stays_attached",
];

#[test]
fn kprobes_and_kretprobes_in_a_vm() {
    if std::env::var_os(GUEST_ENV).is_some() {
        guest::run_checks(&CHECKS);
    } else {
        host::boot_and_check(TEST_NAME, None, &CHECKS);
    }
}

/// The kprobe_multi link path needs fprobe, which Debian's 6.1 kernel lacks
/// (rtrace falls back to perf kprobes there): this boot uses Debian's 6.12
/// kernel and insists the wildcard blocks ran on `kprobe_multi` links.
const MULTI_TEST_NAME: &str = "kprobe_multi_links_in_a_6_12_vm";
const MULTI_CHECKS: [&str; 2] = ["wildcard_block_is_one_program", "nothing_stays_attached"];
/// Set in the guest when the kernel must take kprobe_multi links.
const EXPECT_MULTI_ENV: &str = "RTRACE_VM_EXPECT_KPROBE_MULTI";

#[test]
fn kprobe_multi_links_in_a_6_12_vm() {
    if std::env::var_os(GUEST_ENV).is_some() {
        guest::run_checks(&MULTI_CHECKS);
    } else {
        let package = host::newest_kernel_package(r"^linux-image-6\.12\.[0-9.]+\+deb12-amd64$");
        host::boot_and_check(MULTI_TEST_NAME, Some(&package), &MULTI_CHECKS);
    }
}

mod host {
    use super::*;

    /// `target/vm-cache`, next to cargo's `target/tmp` for integration tests.
    fn cache_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("CARGO_TARGET_TMPDIR has a parent")
            .join("vm-cache")
    }

    /// The newest package apt-cache offers whose name matches `pattern`.
    pub fn newest_kernel_package(pattern: &str) -> String {
        let out = Command::new("apt-cache")
            .args(["search", "--names-only", pattern])
            .output()
            .expect("apt-cache");
        let text = String::from_utf8_lossy(&out.stdout);
        let version = |name: &str| -> Vec<u32> {
            name.split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse().ok())
                .collect()
        };
        text.lines()
            .filter_map(|l| l.split_whitespace().next())
            .max_by_key(|name| version(name))
            .unwrap_or_else(|| panic!("apt-cache offers no package matching {pattern}"))
            .to_string()
    }

    /// Boots the VM (with `package` as its kernel, or the runner's default 6.1)
    /// and runs the test `test` of this binary in it, which must report `checks`.
    pub fn boot_and_check(test: &str, package: Option<&str>, checks: &[&str]) {
        let runner = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vm/run-in-vm");
        let this_test = std::env::current_exe().expect("path of the test binary");
        let mut vm = Command::new(runner);
        if let Some(package) = package {
            // A cache of its own: the runner keeps one kernel per cache.
            let cache = std::env::var_os("RTRACE_VM_CACHE")
                .map_or_else(cache_dir, PathBuf::from)
                .join(package);
            vm.arg("--cache").arg(cache);
            vm.env("RTRACE_VM_KERNEL_PKG", package);
            vm.env(EXPECT_MULTI_ENV, "1");
        } else if std::env::var_os("RTRACE_VM_CACHE").is_none() {
            vm.arg("--cache").arg(cache_dir());
        }
        vm.args(["--timeout", "400", "--"])
            .arg(this_test)
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(GUEST_ENV, "1");
        let started = Instant::now();
        let out = vm
            .output()
            .unwrap_or_else(|e| panic!("cannot start {runner}: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!(
            "VM run (setup, boot, checks, poweroff) took {:.1} s\n{stdout}",
            started.elapsed().as_secs_f64()
        );
        assert!(
            out.status.success(),
            "the checks in the VM failed or the VM did not run them ({}):\n\
             --- stdout:\n{stdout}\n--- stderr:\n{stderr}",
            out.status
        );
        for check in checks {
            assert!(
                stdout
                    .lines()
                    .any(|l| l.starts_with(&format!("ok: {check} ("))),
                "check {check} did not report success:\n{stdout}\n{stderr}"
            );
        }
    }
}

mod guest {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::process::{Output, Stdio};
    use std::sync::atomic::{AtomicU16, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    const RTRACE: &str = env!("CARGO_BIN_EXE_rtrace");
    /// Sizes of the TCP sends; `tcp_sendmsg` sees each as its `size` (arg2).
    const SIZES: [usize; 5] = [1, 10, 100, 1000, 5000];
    const TOTAL: usize = 1 + 10 + 100 + 1000 + 5000;
    const KPROBES_LIST: &str = "/sys/kernel/debug/kprobes/list";
    const KPROBE_EVENTS: &str = "/sys/kernel/tracing/kprobe_events";
    /// Functions ftrace hooks right now (a kprobe_multi link's among them).
    const ENABLED_FUNCTIONS: &str = "/sys/kernel/tracing/enabled_functions";

    type Check = fn(&Baseline) -> Result<(), String>;

    /// What the kernel had loaded before rtrace ran.
    pub struct Baseline {
        bpf_programs: usize,
        bpf_maps: usize,
    }

    /// Runs the checks named in `wanted`, in the order of the full list.
    pub fn run_checks(wanted: &[&str]) {
        let all: [(&str, Check); 13] = [
            ("kprobe_arg2_hist", kprobe_arg2_hist),
            ("fentry_args_size_hist", fentry_args_size_hist),
            ("fexit_retval_sum", fexit_retval_sum),
            ("fentry_struct_member_key", fentry_struct_member_key),
            ("angle_bracket_block", angle_bracket_block),
            ("kretprobe_retval", kretprobe_retval),
            ("func_names_the_function", func_names_the_function),
            (
                "wildcard_attaches_every_match",
                wildcard_attaches_every_match,
            ),
            ("kprobe_at_offset", kprobe_at_offset),
            ("bad_offset_is_refused", bad_offset_is_refused),
            (
                "wildcard_block_is_one_program",
                wildcard_block_is_one_program,
            ),
            ("fentry_path_names_the_file", fentry_path_names_the_file),
            ("nothing_stays_attached", nothing_stays_attached),
        ];
        assert_eq!(all.map(|(name, _)| name), CHECKS);
        let checks = all.into_iter().filter(|(name, _)| wanted.contains(name));
        let baseline = Baseline {
            bpf_programs: bpf_object_count(BPF_PROG_GET_NEXT_ID),
            bpf_maps: bpf_object_count(BPF_MAP_GET_NEXT_ID),
        };
        // The harness has printed "test <name> ... " without a newline.
        println!();
        let mut failed = Vec::new();
        for (name, check) in checks {
            let started = Instant::now();
            match check(&baseline) {
                Ok(()) => println!("ok: {name} ({:.1} s)", started.elapsed().as_secs_f64()),
                Err(why) => {
                    println!("FAILED: {name}\n{why}\n");
                    failed.push(name);
                }
            }
        }
        assert!(failed.is_empty(), "failed checks: {failed:?}");
    }

    // ---- the checks ----

    fn kprobe_arg2_hist(_: &Baseline) -> Result<(), String> {
        let out = trace_sends("k:tcp_sendmsg /pid == $1/ { @s = hist(arg2); }", || Ok(()))?;
        expect_output(
            &out,
            &format!("Attaching 1 probe...\n\n\n{}", size_hist("@s")),
        )
    }

    /// fentry `args` are typed from BTF: `size` is tcp_sendmsg's third parameter.
    fn fentry_args_size_hist(_: &Baseline) -> Result<(), String> {
        let out = trace_sends(
            "fentry:tcp_sendmsg /pid == $1/ { @s = hist(args.size); }",
            || Ok(()),
        )?;
        expect_output(
            &out,
            &format!("Attaching 1 probe...\n\n\n{}", size_hist("@s")),
        )
    }

    /// `path()` (bpf_d_path, allowed in fentry on the kernel's allowlist) gives
    /// the full path of a file the test stats (`security_inode_getattr`, its
    /// `struct path *` argument) and closes (`filp_close`, `&file->f_path`).
    fn fentry_path_names_the_file(_: &Baseline) -> Result<(), String> {
        let file = std::env::temp_dir().join(format!("rtrace-vm-path-{}", std::process::id()));
        std::fs::write(&file, b"x").map_err(|e| e.to_string())?;
        let file = file.canonicalize().map_err(|e| e.to_string())?;
        let out = trace_sends_with(
            "fentry:security_inode_getattr /pid == $1/ { printf(\"path %s\\n\", path(args.path)); }
             fentry:filp_close /pid == $1/ { printf(\"closed %s\\n\", path(&args.filp->f_path)); }",
            |_| {
                std::fs::metadata(&file).map_err(|e| e.to_string())?;
                drop(std::fs::File::open(&file).map_err(|e| e.to_string())?);
                Ok(())
            },
        )?;
        let _ = std::fs::remove_file(&file);
        let text = success_stdout(&out)?;
        let want = format!("path {}", file.display());
        let closed = format!("closed {}", file.display());
        if text.lines().any(|l| l == want) && text.lines().any(|l| l == closed) {
            Ok(())
        } else {
            Err(format!(
                "no line {want:?} in:\n{text}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// fexit `retval` is the slot after the arguments: the bytes queued.
    fn fexit_retval_sum(_: &Baseline) -> Result<(), String> {
        let out = trace_sends(
            "fexit:tcp_sendmsg /pid == $1/ { @r = sum(retval); }",
            || Ok(()),
        )?;
        expect_output(&out, &format!("Attaching 1 probe...\n\n\n@r: {TOTAL}\n"))
    }

    /// A BTF-typed pointer argument followed through nested members: the
    /// sending socket's local port.
    fn fentry_struct_member_key(_: &Baseline) -> Result<(), String> {
        let out = trace_sends(
            "fentry:tcp_sendmsg /pid == $1/ { @p[args.sk->__sk_common.skc_num] = count(); }",
            || Ok(()),
        )?;
        let port = LAST_CLIENT_PORT.load(Ordering::Relaxed);
        expect_output(&out, &format!("Attaching 1 probe...\n\n\n@p[{port}]: 5\n"))
    }

    /// The user's spelling with angle brackets, exactly as requested (no filter:
    /// nothing else in the VM sends over TCP).
    fn angle_bracket_block(_: &Baseline) -> Result<(), String> {
        let out = trace_sends("k:tcp_sendmsg < @s = hist(arg2) >", || Ok(()))?;
        expect_output(
            &out,
            &format!("Attaching 1 probe...\n\n\n{}", size_hist("@s")),
        )
    }

    /// `tcp_sendmsg` returns the number of bytes it queued.
    fn kretprobe_retval(_: &Baseline) -> Result<(), String> {
        let out = trace_sends(
            "kr:tcp_sendmsg /pid == $1/ { @r = hist(retval); @bytes = sum(retval); }",
            || expect_listed(" r  tcp_sendmsg+0x0"),
        )?;
        let expected = format!(
            "Attaching 1 probe...\n\n\n@bytes: {TOTAL}\n{}",
            size_hist("@r")
        );
        expect_output(&out, &expected)
    }

    fn func_names_the_function(_: &Baseline) -> Result<(), String> {
        let out = trace_sends("k:tcp_sendmsg /pid == $1/ { @[func] = count(); }", || {
            expect_listed(" k  tcp_sendmsg+0x0")
        })?;
        expect_output(&out, "Attaching 1 probe...\n\n\n@[tcp_sendmsg]: 5\n")
    }

    /// `tcp_send*` is every kernel text symbol with that prefix; the two on the
    /// send path count each send once, the others (ACKs, FIN …) vary. With
    /// fprobe (kprobe_multi links) the functions are hooked through ftrace and
    /// listed in `enabled_functions`, else each is a registered kprobe.
    fn wildcard_attaches_every_match(_: &Baseline) -> Result<(), String> {
        let matches = kernel_functions_with_prefix("tcp_send");
        if matches.len() < 2 {
            return Err(format!(
                "kallsyms has too few tcp_send* functions: {matches:?}"
            ));
        }
        let multi = kallsyms_has("fprobe_handler");
        if !multi && std::env::var_os(EXPECT_MULTI_ENV).is_some() {
            return Err("this kernel was booted to test kprobe_multi but has no fprobe".into());
        }
        let out = trace_sends(
            "kprobe:tcp_send* /pid == $1/ { @[func] = count(); }",
            || {
                let (file, listed) = if multi {
                    (ENABLED_FUNCTIONS, read(ENABLED_FUNCTIONS)?)
                } else {
                    (KPROBES_LIST, read(KPROBES_LIST)?)
                };
                let is_listed = |f: &String| {
                    if multi {
                        listed
                            .lines()
                            .any(|l| l.split_whitespace().next() == Some(f))
                    } else {
                        listed.contains(&format!(" k  {f}+0x0 "))
                    }
                };
                let missing: Vec<_> = matches.iter().filter(|f| !is_listed(f)).collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!("not in {file}: {missing:?}\n{listed}"))
                }
            },
        )?;
        let text = success_stdout(&out)?;
        let header = format!("Attaching {} probes...\n\n\n", matches.len());
        let Some(body) = text.strip_prefix(&header) else {
            return Err(format!("expected it to start with {header:?}:\n{text}"));
        };
        for line in ["@[tcp_sendmsg]: 5", "@[tcp_sendmsg_locked]: 5"] {
            if !body.lines().any(|l| l == line) {
                return Err(format!("no line {line:?} in:\n{text}"));
            }
        }
        for line in body.lines() {
            let name = line
                .strip_prefix("@[")
                .and_then(|l| l.split_once("]: "))
                .map(|(name, _)| name);
            if !name.is_some_and(|n| matches.iter().any(|m| m == n)) {
                return Err(format!("unexpected line {line:?} in:\n{text}"));
            }
        }
        Ok(())
    }

    /// A wildcard kprobe block and a wildcard kretprobe block are one program
    /// each (`func` from `bpf_get_func_ip`, `probe` from the attach cookie), on
    /// one `kprobe_multi` link each where the kernel has fprobe, else on one
    /// perf kprobe per function with a cookie link. Each send passes through
    /// `tcp_sendmsg` and `tcp_sendmsg_locked` once, and both return its size.
    fn wildcard_block_is_one_program(_: &Baseline) -> Result<(), String> {
        let matches = kernel_functions_with_prefix("tcp_sendmsg");
        if matches.len() < 2 {
            return Err(format!(
                "kallsyms has too few tcp_sendmsg* functions: {matches:?}"
            ));
        }
        let multi = kallsyms_has("fprobe_handler");
        if !multi && std::env::var_os(EXPECT_MULTI_ENV).is_some() {
            return Err("this kernel was booted to test kprobe_multi but has no fprobe".into());
        }
        let script = "kprobe:tcp_sendmsg* /pid == $1/ { @k[func] = count(); }
                      kretprobe:tcp_sendmsg* /pid == $1/ { @r[func] = count(); @b[probe] = sum(retval); }";
        let out = trace_sends_with(script, |rtrace| {
            let programs = fdinfo_lines(rtrace, "prog_type:")?.len();
            if programs != 2 {
                return Err(format!("rtrace holds {programs} BPF programs, expected 2"));
            }
            let links = fdinfo_lines(rtrace, "link_type:")?;
            let expected = if multi {
                vec!["kprobe_multi".to_string(); 2]
            } else {
                vec!["perf".to_string(); 2 * matches.len()]
            };
            if links != expected {
                return Err(format!("links {links:?}, expected {expected:?}"));
            }
            println!("  (links: {} x {})", links.len(), links[0]);
            Ok(())
        })?;
        let text = success_stdout(&out)?;
        let header = format!("Attaching {} probes...\n\n\n", 2 * matches.len());
        let Some(body) = text.strip_prefix(&header) else {
            return Err(format!("expected it to start with {header:?}:\n{text}"));
        };
        let mut got: Vec<&str> = body.lines().filter(|l| !l.is_empty()).collect();
        got.sort_unstable();
        let mut want = vec![
            format!("@b[kretprobe:tcp_sendmsg]: {TOTAL}"),
            format!("@b[kretprobe:tcp_sendmsg_locked]: {TOTAL}"),
            "@k[tcp_sendmsg]: 5".to_string(),
            "@k[tcp_sendmsg_locked]: 5".to_string(),
            "@r[tcp_sendmsg]: 5".to_string(),
            "@r[tcp_sendmsg_locked]: 5".to_string(),
        ];
        want.sort_unstable();
        if got != want {
            return Err(format!("expected the lines {want:?}, got:\n{text}"));
        }
        Ok(())
    }

    fn kallsyms_has(symbol: &str) -> bool {
        let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
        text.lines()
            .any(|l| l.split_whitespace().nth(2) == Some(symbol))
    }

    /// The values of the fdinfo lines starting with `key` (`link_type:` of
    /// every BPF link, `prog_type:` of every program) of process `pid`, in fd order.
    fn fdinfo_lines(pid: u32, key: &str) -> Result<Vec<String>, String> {
        let dir = format!("/proc/{pid}/fdinfo");
        let mut fds: Vec<u32> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{dir}: {e}"))?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        fds.sort_unstable();
        let mut types = Vec::new();
        for fd in fds {
            let text = std::fs::read_to_string(format!("{dir}/{fd}")).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.starts_with(key)) {
                types.push(line[key.len()..].trim().to_string());
            }
        }
        Ok(types)
    }

    /// +5 skips the 5-byte `call __fentry__` every traced function starts with
    /// (this kernel has no IBT `endbr64` before it), so it is an instruction
    /// boundary and the argument registers are still untouched.
    fn kprobe_at_offset(_: &Baseline) -> Result<(), String> {
        let out = trace_sends(
            "kprobe:tcp_sendmsg+5 /pid == $1/ { @s = hist(arg2); @f[func] = count(); }",
            || expect_listed(" k  tcp_sendmsg+0x5 "),
        )?;
        let expected = format!(
            "Attaching 1 probe...\n\n\n@f[tcp_sendmsg]: 5\n{}",
            size_hist("@s")
        );
        expect_output(&out, &expected)
    }

    /// +1 is inside the `call __fentry__`: the kernel refuses it.
    fn bad_offset_is_refused(_: &Baseline) -> Result<(), String> {
        let out = run_rtrace(&["-e", "kprobe:tcp_sendmsg+1 { @ = count(); }"])?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = "error: cannot attach kprobe:tcp_sendmsg+1: offset 1 into tcp_sendmsg \
                        is not the start of an instruction (a kprobe can only be placed on an \
                        instruction boundary)\n";
        if out.status.code() != Some(1) || stderr != expected {
            return Err(format!(
                "expected exit status 1 and stderr {expected:?}, got {} and {stderr:?}",
                out.status
            ));
        }
        Ok(())
    }

    /// After all the runs above: no kprobe registered, no BPF program or map left.
    fn nothing_stays_attached(baseline: &Baseline) -> Result<(), String> {
        // The kernel frees programs and maps after an RCU grace period (slow under
        // emulation): a leak is what is still there after a few seconds.
        let mut result = still_attached(baseline);
        for _ in 0..50 {
            if result.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            result = still_attached(baseline);
        }
        result
    }

    fn still_attached(baseline: &Baseline) -> Result<(), String> {
        let listed = read(KPROBES_LIST)?;
        let events = read(KPROBE_EVENTS)?;
        let programs = bpf_object_count(BPF_PROG_GET_NEXT_ID);
        let maps = bpf_object_count(BPF_MAP_GET_NEXT_ID);
        if listed.is_empty()
            && events.is_empty()
            && programs == baseline.bpf_programs
            && maps == baseline.bpf_maps
        {
            return Ok(());
        }
        Err(format!(
            "left behind: kprobes {listed:?}, kprobe_events {events:?}, \
             {programs} BPF programs (before: {}), {maps} maps (before: {})",
            baseline.bpf_programs, baseline.bpf_maps
        ))
    }

    // ---- expected output ----

    /// One hist row in bpftrace's layout (all counts here are 1, so full bars).
    fn row(label: &str, count: u64) -> String {
        let bar = "@".repeat(52 * count as usize);
        format!("{label:<16}{count:>8} |{bar:<52}|\n")
    }

    /// `hist()` of [`SIZES`]: 1, 10, 100, 1000, 5000.
    fn size_hist(name: &str) -> String {
        let rows = [
            ("[1]", 1),
            ("[2, 4)", 0),
            ("[4, 8)", 0),
            ("[8, 16)", 1),
            ("[16, 32)", 0),
            ("[32, 64)", 0),
            ("[64, 128)", 1),
            ("[128, 256)", 0),
            ("[256, 512)", 0),
            ("[512, 1K)", 1),
            ("[1K, 2K)", 0),
            ("[2K, 4K)", 0),
            ("[4K, 8K)", 1),
        ];
        let mut s = format!("{name}: \n");
        for (label, count) in rows {
            s += &row(label, count);
        }
        s + "\n"
    }

    fn success_stdout(out: &Output) -> Result<String, String> {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "rtrace failed ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn expect_output(out: &Output, expected: &str) -> Result<(), String> {
        let text = success_stdout(out)?;
        if text == expected {
            Ok(())
        } else {
            Err(format!("expected:\n{expected}\ngot:\n{text}"))
        }
    }

    /// While rtrace runs: the kernel's list of registered kprobes has this entry.
    fn expect_listed(entry: &str) -> Result<(), String> {
        let listed = read(KPROBES_LIST)?;
        if listed.lines().any(|l| l.contains(entry)) {
            Ok(())
        } else {
            Err(format!("{entry:?} is not in {KPROBES_LIST}:\n{listed}"))
        }
    }

    fn read(path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
    }

    // ---- running rtrace and the workload ----

    fn run_rtrace(args: &[&str]) -> Result<Output, String> {
        let child = Command::new(RTRACE)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start rtrace: {e}"))?;
        wait_with_limit(child)
    }

    /// Runs `script` with this process's pid as `$1`; once it has attached, runs
    /// `while_attached`, makes the TCP sends, then stops rtrace with SIGINT.
    fn trace_sends(
        script: &str,
        while_attached: impl FnOnce() -> Result<(), String>,
    ) -> Result<Output, String> {
        trace_sends_with(script, |_| while_attached())
    }

    /// [`trace_sends`], telling `while_attached` rtrace's pid.
    fn trace_sends_with(
        script: &str,
        while_attached: impl FnOnce(u32) -> Result<(), String>,
    ) -> Result<Output, String> {
        let mut child = Command::new(RTRACE)
            .args(["-e", script, &std::process::id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start rtrace: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (attached_tx, attached_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut text = String::new();
            // rtrace prints "Attaching N probes..." once they are attached.
            let _ = reader.read_line(&mut text);
            let _ = attached_tx.send(());
            let _ = reader.read_to_string(&mut text);
            text
        });
        let attached = attached_rx.recv_timeout(Duration::from_secs(120)).is_ok();
        let during = if attached {
            while_attached(child.id()).and_then(|()| send_sizes(&SIZES))
        } else {
            Err("rtrace did not attach within 120 s".to_string())
        };
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let mut out = wait_with_limit(child)?;
        out.stdout = reader.join().expect("stdout reader").into_bytes();
        during.map_err(|e| {
            format!(
                "{e}\nrtrace stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        Ok(out)
    }

    fn wait_with_limit(mut child: std::process::Child) -> Result<Output, String> {
        let started = Instant::now();
        while child.try_wait().map_err(|e| e.to_string())?.is_none() {
            if started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                let out = child.wait_with_output().map_err(|e| e.to_string())?;
                return Err(format!(
                    "rtrace did not exit within 120 s; stderr:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().map_err(|e| e.to_string())
    }

    /// The local port of the client socket of the last [`send_sizes`].
    static LAST_CLIENT_PORT: AtomicU16 = AtomicU16::new(0);

    /// One `write` per size on a loopback TCP connection, each read back before
    /// the next so the kernel never splits or merges them.
    fn send_sizes(sizes: &[usize]) -> Result<(), String> {
        let io = |e: std::io::Error| format!("TCP workload: {e}");
        let listener = TcpListener::bind("127.0.0.1:0").map_err(io)?;
        let mut client = TcpStream::connect(listener.local_addr().map_err(io)?).map_err(io)?;
        let client_port = client.local_addr().map_err(io)?.port();
        LAST_CLIENT_PORT.store(client_port, Ordering::Relaxed);
        let (mut server, _) = listener.accept().map_err(io)?;
        for &n in sizes {
            let data = vec![b'x'; n];
            let written = client.write(&data).map_err(io)?;
            if written != n {
                return Err(format!("TCP workload: wrote {written} of {n} bytes"));
            }
            let mut back = vec![0u8; n];
            server.read_exact(&mut back).map_err(io)?;
        }
        Ok(())
    }

    /// Kernel text symbols starting with `prefix`, as rtrace expands `prefix*`
    /// (no compiler clones such as `.cold`).
    fn kernel_functions_with_prefix(prefix: &str) -> Vec<String> {
        let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
        let mut names: Vec<String> = text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let (_, kind, name) = (fields.next()?, fields.next()?, fields.next()?);
                let wanted =
                    matches!(kind, "t" | "T") && name.starts_with(prefix) && !name.contains('.');
                wanted.then(|| name.to_string())
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    // ---- loaded BPF objects ----

    const BPF_PROG_GET_NEXT_ID: libc::c_long = 11;
    const BPF_MAP_GET_NEXT_ID: libc::c_long = 12;

    /// How many BPF programs (or maps) the kernel has loaded, walking their ids.
    fn bpf_object_count(command: libc::c_long) -> usize {
        // The `bpf_attr` layout of the GET_NEXT_ID commands.
        #[repr(C)]
        struct NextId {
            start_id: u32,
            next_id: u32,
            open_flags: u32,
        }
        let mut attr = NextId {
            start_id: 0,
            next_id: 0,
            open_flags: 0,
        };
        let mut count = 0;
        loop {
            // SAFETY: bpf(2) reads and writes only `attr`, whose size we pass.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_bpf,
                    command,
                    &mut attr as *mut NextId,
                    std::mem::size_of::<NextId>(),
                )
            };
            if rc != 0 {
                return count;
            }
            count += 1;
            attr.start_id = attr.next_id;
        }
    }
}
