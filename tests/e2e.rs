//! End-to-end: the real `rtrace` binary, the real kernel, workloads whose
//! syscalls the test knows exactly.

mod common;

use common::*;
use std::time::Duration;

/// Read sizes of the workload, and what the aggregations over them must print.
const SIZES: [usize; 8] = [1, 2, 3, 100, 1000, 1000, 5000, 70000];

/// hist/lhist row in bpftrace 0.17's layout.
fn row(label: &str, count: u64, max: u64) -> String {
    let bar = "@".repeat((count * 52 / max) as usize);
    format!("{label:<16}{count:>8} |{bar:<52}|\n")
}

fn expected_hist() -> String {
    let rows = [
        ("[1]", 1),
        ("[2, 4)", 2),
        ("[4, 8)", 0),
        ("[8, 16)", 0),
        ("[16, 32)", 0),
        ("[32, 64)", 0),
        ("[64, 128)", 1),
        ("[128, 256)", 0),
        ("[256, 512)", 0),
        ("[512, 1K)", 2),
        ("[1K, 2K)", 0),
        ("[2K, 4K)", 0),
        ("[4K, 8K)", 1),
        ("[8K, 16K)", 0),
        ("[16K, 32K)", 0),
        ("[32K, 64K)", 0),
        ("[64K, 128K)", 1),
    ];
    let mut s = String::from("@h: \n");
    for (label, n) in rows {
        s += &row(label, n, 2);
    }
    s + "\n"
}

fn expected_lhist() -> String {
    let rows = [
        ("[0, 1000)", 4),
        ("[1000, 2000)", 2),
        ("[2000, 3000)", 0),
        ("[3000, 4000)", 0),
        ("[4000, 5000)", 0),
        ("[5000, 6000)", 1),
        ("[6000, 7000)", 0),
        ("[7000, 8000)", 0),
        ("[8000, 9000)", 0),
        ("[9000, 10000)", 0),
        ("[10000, ...)", 1),
    ];
    let mut s = String::from("@l: \n");
    for (label, n) in rows {
        s += &row(label, n, 4);
    }
    s + "\n"
}

const READ_SCRIPT: &str = r#"
// exact aggregations over the workload's reads of fd 100
tracepoint:syscalls:sys_enter_read /pid == $1 && args->fd == 100/
{
    @count = count();
    @sum = sum(args->count);
    @avg = avg(args->count);
    @min = min(args->count);
    @max = max(args->count);
    @stats = stats(args->count);
    @h = hist(args->count);
    @l = lhist(args->count, 0, 10000, 1000);
    @bytes[comm, args->fd] = sum(args->count);
    if (args->count > 1000) { printf("big read %d from %s\n", args->count, comm); }
}
tracepoint:syscalls:sys_enter_exit_group /pid == $1/ { exit(); }
"#;

fn expected_read_output() -> String {
    let mut s = String::from("Attaching 2 probes...\n");
    s += "big read 5000 from e2e\nbig read 70000 from e2e\n\n\n";
    s += "@avg: 9638\n\n";
    s += "@bytes[e2e, 100]: 77106\n";
    s += "@count: 8\n";
    s += &expected_hist();
    s += &expected_lhist();
    s += "@max: 70000\n@min: 1\n";
    s += "@stats: count 8, average 9638, total 77106\n\n";
    s += "@sum: 77106\n";
    s
}

/// The forked workload inherits the forking thread's name (its comm).
fn workload_comm() -> String {
    let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    comm.trim().to_string()
}

fn traced_reads(script: &str) -> String {
    let dir = std::env::temp_dir().join(format!("rtrace-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("reads-{}.rt", script.len()));
    std::fs::write(&path, script).unwrap();
    let work = ReadWorkload::spawn(&SIZES);
    let pid = work.pid.to_string();
    let out = trace_while(
        &[path.to_str().unwrap(), &pid],
        move || work.release(),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "rtrace failed: {}", stderr(&out));
    stdout(&out).replace(&workload_comm(), "e2e")
}

#[test]
fn read_aggregations_are_exact() {
    assert_eq!(traced_reads(READ_SCRIPT), expected_read_output());
}

#[test]
fn angle_bracket_blocks_match_braces() {
    let angled = READ_SCRIPT
        .replace("/\n{", "/\n<")
        .replace("comm); }\n}", "comm); }\n>")
        .replace("{ exit(); }", "< exit(); >");
    assert!(
        angled.contains('<') && angled.contains("comm); }\n>"),
        "{angled}"
    );
    assert_eq!(traced_reads(&angled), expected_read_output());
}

#[test]
fn begin_printf_and_exit() {
    let out = run(
        &[
            "-e",
            r#"BEGIN { printf("hi %d %s\n", 42, "there"); exit(); }"#,
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Attaching 1 probe...\nhi 42 there\n\n\n");
}

#[test]
fn script_from_stdin_with_params() {
    let out = run(
        &["-", "7", "word"],
        Some("BEGIN { printf(\"%d %s %d\\n\", $1 * 6, str($2), $#); exit(); }"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Attaching 1 probe...\n42 word 2\n\n\n");
}

#[test]
fn exit_code_and_maps_from_user_space() {
    let out = run(
        &[
            "-e",
            "BEGIN { @x = 5; @s[\"a\", 2] = 3; @t = (1, \"two\"); exit(3); } END { @e = 1; }",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Attaching 2 probes...\n\n\n@e: 1\n@s[a, 2]: 3\n@t: (1, two)\n@x: 5\n"
    );
}

#[test]
fn json_output_is_ndjson() {
    let out = run(
        &[
            "-f",
            "json",
            "-e",
            "BEGIN { printf(\"hi\\n\"); @c = count(); @x = 5; exit(); }",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    for l in &lines {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    assert_eq!(
        lines,
        [
            r#"{"type": "attached_probes", "data": {"probes": 1}}"#,
            r#"{"type": "printf", "data": "hi\n"}"#,
            r#"{"type": "map", "data": {"@c": 1}}"#,
            r#"{"type": "map", "data": {"@x": 5}}"#,
        ]
    );
}

#[test]
fn sigint_runs_end_and_prints_maps() {
    ensure_tracefs();
    let child = std::process::Command::new(RTRACE)
        .args(["-e", "tracepoint:syscalls:sys_enter_getpid { @n = count(); } END { printf(\"end ran\\n\"); }"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    // SAFETY: getpid has no preconditions.
    for _ in 0..5 {
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
    kill(child.id(), libc::SIGINT);
    let out = wait_output(child, Duration::from_secs(10));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("Attaching 2 probes...\n"), "{text}");
    assert!(text.contains("end ran\n\n\n@n: "), "{text}");
    let n: u64 = text.rsplit("@n: ").next().unwrap().trim().parse().unwrap();
    assert!(n >= 5, "{text}");
}

#[test]
fn parse_errors_point_at_the_source() {
    let out = run(&["-e", "BEGIN { @x = count() @y = 1 }"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("stdin:1:"), "{err}");
    assert!(err.contains('^'), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn type_errors_point_at_the_source() {
    let out = run(
        &["-e", "BEGIN { $x = 1; $x = \"str\"; prinft(\"a\"); }"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("type mismatch"), "{err}");
    assert!(err.contains("did you mean `printf`?"), "{err}");
}

#[test]
fn kprobe_verifies_but_cannot_attach_here() {
    let dry = run(
        &["--dry-run", "-e", "k:tcp_sendmsg < @s = hist(arg2) >"],
        None,
    );
    assert!(dry.status.success(), "{}", stderr(&dry));
    let out = run(&["-e", "k:tcp_sendmsg < @s = hist(arg2) >"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("kprobe"), "{err}");
}

/// Packets the kernel drops for lack of a socket: a TCP SYN and a UDP datagram
/// to the closed port 127.0.0.1:9, `n` times each.
fn provoke_drops(n: usize) {
    for _ in 0..n {
        let _ = std::net::TcpStream::connect_timeout(
            &"127.0.0.1:9".parse().unwrap(),
            Duration::from_millis(200),
        );
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let _ = udp.send_to(b"drop me", "127.0.0.1:9");
    }
}

#[test]
fn dropwatch_reports_drop_locations() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/dropwatch.rt");
    ensure_tracefs();
    let mut child = std::process::Command::new(RTRACE)
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut s = String::new();
        let mut r = stdout;
        let _ = r.read_to_string(&mut s);
        s
    });
    std::thread::sleep(Duration::from_millis(500));
    provoke_drops(5);
    // One 5 s report, then stop the tracer.
    std::thread::sleep(Duration::from_millis(5200));
    kill(child.id(), libc::SIGTERM);
    let status = wait_output(child, Duration::from_secs(10)).status;
    let text = reader.join().unwrap();
    assert!(status.success(), "{text}");
    assert!(
        text.starts_with("Attaching 4 probes...\nMonitoring for dropped packets\n"),
        "{text}"
    );
    assert!(
        text.trim_end().ends_with("Stopping dropped packet monitor"),
        "{text}"
    );
    for func in ["tcp_v4_rcv", "__udp4_lib_rcv"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("@drops[{func}]: ")))
            .unwrap_or_else(|| panic!("no drops at {func}:\n{text}"));
        let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(n >= 5, "{line}");
    }
}

/// BPF program and map ids a process holds, from its fdinfo.
fn bpf_ids_held_by(pid: u32) -> Vec<(String, u64)> {
    let mut ids = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .unwrap()
        .flatten()
    {
        let info = std::fs::read_to_string(fd.path()).unwrap_or_default();
        for line in info.lines() {
            for kind in ["prog", "map"] {
                if let Some(id) = line.strip_prefix(&format!("{kind}_id:")) {
                    ids.push((kind.to_string(), id.trim().parse().unwrap()));
                }
            }
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

fn bpf_object_exists(kind: &str, id: u64) -> bool {
    let out = std::process::Command::new("bpftool")
        .args([kind, "show", "id", &id.to_string()])
        .output()
        .expect("bpftool");
    out.status.success()
}

#[test]
fn nothing_stays_loaded_after_exit() {
    ensure_tracefs();
    let child = std::process::Command::new(RTRACE)
        .args(["-e", "tracepoint:syscalls:sys_enter_getppid { @ = count(); } profile:hz:49 { @p = count(); } interval:ms:700 { exit(); }"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(350));
    let held = bpf_ids_held_by(child.id());
    let out = wait_output(child, Duration::from_secs(20));
    assert!(out.status.success(), "{}", stderr(&out));
    let progs = held.iter().filter(|(k, _)| k == "prog").count();
    assert!(
        progs >= 2 && held.len() > progs,
        "expected programs and maps held while running: {held:?}"
    );
    // The kernel frees maps after an RCU grace period: give it a moment.
    let mut left: Vec<_> = held.clone();
    for _ in 0..50 {
        left.retain(|(kind, id)| bpf_object_exists(kind, *id));
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(left.is_empty(), "still loaded 5 s after exit: {left:?}");
}

#[test]
fn lost_events_are_counted_exactly() {
    ensure_tracefs();
    let script = "tracepoint:syscalls:sys_enter_getppid /tid == $1/ { printf(\"%s %s %s\\n\", comm, comm, comm); }";
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) }.to_string();
    let mut child = std::process::Command::new(RTRACE)
        .args(["-e", script, &tid])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = Vec::new();
        for (i, line) in std::io::BufReader::new(stdout).lines().enumerate() {
            if i == 0 {
                tx.send(()).unwrap();
            }
            lines.push(line.unwrap());
        }
        lines
    });
    rx.recv_timeout(Duration::from_secs(30)).expect("attached");
    // Freeze the consumer so the 1 MiB ring buffer overflows.
    kill(child.id(), libc::SIGSTOP);
    const CALLS: usize = 100_000;
    for _ in 0..CALLS {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    kill(child.id(), libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(1500));
    kill(child.id(), libc::SIGINT);
    assert!(wait_output(child, Duration::from_secs(30)).status.success());
    let lines = reader.join().unwrap();
    let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    let expected = format!("{0} {0} {0}", comm.trim());
    let printed = lines.iter().filter(|l| **l == expected).count();
    let lost: usize = lines
        .iter()
        .filter_map(|l| {
            l.strip_prefix("Lost ")?
                .strip_suffix(" events")?
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert!(lost > 0, "nothing lost: {printed} printed");
    assert_eq!(printed + lost, CALLS, "{printed} printed + {lost} lost");
}

#[test]
fn profile_and_interval_probes_fire() {
    // profile:hz:99 samples every CPU; interval runs in user space on its own clock.
    let out = run(
        &["-e", "profile:hz:99 { @samples = count(); } interval:ms:100 { @ticks = count(); } interval:ms:1050 { exit(); }"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let value = |name: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    // ~99 samples per CPU-second (an idle CPU still takes cpu-clock samples).
    let samples = value("@samples: ");
    assert!((50..=300).contains(&samples), "{text}");
    assert_eq!(value("@ticks: "), 10, "{text}");
}

#[test]
fn print_clear_zero_delete_and_time() {
    let out = run(
        &[
            "-e",
            r#"BEGIN { @a[1] = 1; @a[2] = 2; print(@a); delete(@a[1]); print(@a); zero(@a); print(@a); clear(@a);
                      @b = 5; print(@b); print((1, "x")); print(comm); time("%Y\n"); exit(); }"#,
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let year = std::process::Command::new("date")
        .arg("+%Y")
        .output()
        .unwrap();
    let expected = format!(
        // print() is asynchronous, as in bpftrace: the map is read when the event
        // is handled, after BEGIN's delete(); the cleared @a prints as an empty line.
        "Attaching 1 probe...\n@a[2]: 2\n@a[2]: 2\n@a[2]: 0\n@b: 5\n(1, x)\nrtrace\n{}\n\n\n\n@b: 5\n",
        String::from_utf8_lossy(&year.stdout).trim()
    );
    assert_eq!(stdout(&out), expected);
}

#[test]
fn output_file_and_quiet() {
    let path = std::env::temp_dir().join(format!("rtrace-out-{}.txt", std::process::id()));
    let out = run(
        &[
            "-q",
            "-o",
            path.to_str().unwrap(),
            "-e",
            "BEGIN { printf(\"to file\\n\"); exit(); }",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "to file\n\n\n");
    let _ = std::fs::remove_file(path);
}

#[test]
fn verifier_rejection_is_explained_and_v_shows_the_log() {
    // A loop the verifier cannot bound is rejected; the user gets one sentence, and the log with -v.
    let script = "tracepoint:syscalls:sys_enter_getppid { $i = 0; while ($i < args->__syscall_nr + 1000000000) { $i++; } }";
    let out = run(&["-e", script], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("verifier rejected"), "{err}");
    assert!(err.contains("-v"), "{err}");
    assert!(!err.contains("processed"), "log shown without -v: {err}");
    let verbose = run(&["-v", "-e", script], None);
    let err = stderr(&verbose);
    assert!(err.contains("verifier log"), "{err}");
}

#[test]
fn missing_privilege_is_one_clear_sentence() {
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            RTRACE,
            "-e",
            "BEGIN { exit(); }",
        ])
        .output()
        .expect("setpriv (util-linux)");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("permission") || err.contains("root"), "{err}");
    assert!(err.lines().count() <= 3, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn builtins_in_kernel_probes() {
    // SAFETY: gettid/getuid have no preconditions.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    let script = "tracepoint:syscalls:sys_enter_getpp* /tid == $1/ {
        @probe[probe] = count();
        @who = (pid, tid, uid, gid, comm);
        @sane = (nsecs > 0) + (elapsed > 0) + (elapsed < 60000000000) + (cpu < 1024) + (cgroup > 0) + (rand >= 0);
        if ($# == 1) { @params = $1 == tid; }
    }
    interval:ms:600 { exit(); }";
    let child = std::process::Command::new(RTRACE)
        .args(["-e", script, &tid.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        // SAFETY: getppid/getpgrp have no preconditions.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    let out = wait_output(child, Duration::from_secs(10));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let pid = std::process::id();
    let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    assert!(
        text.contains("@probe[tracepoint:syscalls:sys_enter_getppid]: 3\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("@who: ({pid}, {tid}, 0, 0, {})\n", comm.trim())),
        "{text}"
    );
    assert!(text.contains("@sane: 6\n"), "{text}");
    assert!(text.contains("@params: 1\n"), "{text}");
}
