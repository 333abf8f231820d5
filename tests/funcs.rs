//! The networking helpers and the other functions on the real kernel: ntop of
//! tracepoint arrays, integers and `struct sock` fields for real TCP connections
//! over 127.0.0.1 and ::1, macaddr through a uprobe, signal, system, cat,
//! strftime, cgroupid, debugf through the trace pipe, and the error paths.

mod common;
mod programs;

use programs::*;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Prints both ends of every TCP state change touching port `$1`, from the
/// tracepoint fields and from the `struct sock` behind them.
const TCP_SCRIPT: &str = r#"
tracepoint:sock:inet_sock_set_state /args->sport == $1 || args->dport == $1/ {
  $sk = (struct sock *)args->skaddr;
  if (args->family == 2) {
    printf("tp4 %s %d %s %d\n", ntop(args->saddr), args->sport, ntop(args->daddr), args->dport);
    printf("sk4 %s %d %s %d\n", ntop($sk->__sk_common.skc_rcv_saddr), $sk->__sk_common.skc_num,
           ntop(2, $sk->__sk_common.skc_daddr), ntohs($sk->__sk_common.skc_dport));
  } else {
    printf("tp6 %s %d %s %d\n", ntop(args->saddr_v6), args->sport, ntop(args->daddr_v6), args->dport);
    printf("sk6 %s %d %s %d\n", ntop($sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8),
           $sk->__sk_common.skc_num, ntop($sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8),
           bswap((uint16)$sk->__sk_common.skc_dport));
  }
  @peers[ntop(args->daddr)] = count();
}
"#;

/// Connect to a fresh listener on `host` while tracing; returns the tracer's
/// output and (server port, client port).
fn trace_connection(host: &str) -> (Traced, u16, u16) {
    let listener = TcpListener::bind((host, 0)).expect("listen");
    let server_port = listener.local_addr().unwrap().port();
    let port = server_port.to_string();
    let tracer = Tracer::start(&["-e", TCP_SCRIPT, &port]);
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let client_port = client.local_addr().unwrap().port();
    let (accepted, _) = listener.accept().expect("accept");
    drop(client);
    drop(accepted);
    std::thread::sleep(Duration::from_millis(500));
    (tracer.stop(), server_port, client_port)
}

#[test]
fn ntop_of_ipv4_tracepoint_arrays_and_sock_fields() {
    let (out, server, client) = trace_connection("127.0.0.1");
    let lines = &out.stdout;
    // The client's SYN_SENT -> ESTABLISHED change: it is the source.
    let tp = format!("tp4 127.0.0.1 {client} 127.0.0.1 {server}");
    let sk = format!("sk4 127.0.0.1 {client} 127.0.0.1 {server}");
    assert!(lines.contains(&tp), "no `{tp}` in {lines:?}");
    assert!(lines.contains(&sk), "no `{sk}` in {lines:?}");
    // The accepted socket sees the client as its peer.
    let tp_back = format!("tp4 127.0.0.1 {server} 127.0.0.1 {client}");
    assert!(lines.contains(&tp_back), "no `{tp_back}` in {lines:?}");
    // inet map keys print as addresses.
    assert!(
        lines.iter().any(|l| l.starts_with("@peers[127.0.0.1]: ")),
        "{lines:?}"
    );
}

#[test]
fn ntop_of_ipv6_loopback() {
    let (out, server, client) = trace_connection("::1");
    let lines = &out.stdout;
    let tp = format!("tp6 ::1 {client} ::1 {server}");
    let sk = format!("sk6 ::1 {client} ::1 {server}");
    assert!(lines.contains(&tp), "no `{tp}` in {lines:?}");
    assert!(lines.contains(&sk), "no `{sk}` in {lines:?}");
}

#[test]
fn byte_swaps_and_addresses_match_in_kernel_and_user_space() {
    // The same expressions in a kernel probe (eBPF) and in END (JIT).
    let exprs = r#"printf("%d %d %llu %d %s %s %s\n", bswap((uint16)0x1234), bswap((uint32)0x12345678),
        bswap(0x0102030405060708), ntohl(0x01020304), ntop(0x0100007f), ntop(pton("fe80::1:2")),
        ntop(10, pton("::ffff:10.1.2.3")))"#;
    let script = format!(
        "tracepoint:syscalls:sys_enter_getppid /tid == $1/ {{ {exprs}; }} END {{ {exprs}; }}"
    );
    let pid = this_thread();
    let tracer = Tracer::start(&["-e", &script, &pid]);
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() };
    std::thread::sleep(Duration::from_millis(300));
    let out = tracer.stop();
    let want = "13330 2018915346 578437695752307201 67305985 127.0.0.1 fe80::1:2 ::ffff:10.1.2.3";
    let hits = out.stdout.iter().filter(|l| *l == want).count();
    assert_eq!(
        hits, 2,
        "want `{want}` from the probe and END: {:?}",
        out.stdout
    );
}

#[test]
fn macaddr_of_a_uprobe_argument() {
    let bin = build("funcs_target", &[]);
    let mut target = LineProcess::spawn(&bin, &[]);
    target.out.expect("ready", Duration::from_secs(10));
    let probe = format!(
        "uprobe:{}:rt_mac {{ printf(\"mac %s\\n\", macaddr(arg0)); @m[macaddr(arg0)] = count(); }}",
        bin.display()
    );
    let tracer = Tracer::start(&["-e", &probe]);
    target.ask("mac", "mac done");
    std::thread::sleep(Duration::from_millis(300));
    let out = tracer.stop();
    target.finish();
    assert!(
        out.stdout.contains(&"mac DE:AD:BE:EF:0A:01".to_string()),
        "{:?}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&"@m[DE:AD:BE:EF:0A:01]: 1".to_string()),
        "{:?}",
        out.stdout
    );
}

#[test]
fn signal_kill_from_a_probe_on_the_tasks_own_syscall() {
    use std::os::unix::process::ExitStatusExt;
    let bin = build("funcs_target", &[]);
    let mut target = LineProcess::spawn(&bin, &[]);
    target.out.expect("ready", Duration::from_secs(10));
    let pid = target.pid().to_string();
    let script = "tracepoint:syscalls:sys_enter_getppid /tid == $1/ { signal(\"KILL\"); exit(); }";
    let tracer = Tracer::start(&["--unsafe", "-e", script, &pid]);
    target.send("ppid");
    let out = tracer.wait(Duration::from_secs(30));
    let status = target.finish();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?} {out:?}");
}

#[test]
fn system_and_cat_print_when_handled() {
    let file = std::env::temp_dir().join(format!("rtrace-cat-{}.txt", std::process::id()));
    std::fs::write(&file, "first line\nsecond line\n").unwrap();
    let script = format!(
        r#"BEGIN {{ printf("before\n"); system("echo hello %d %s", 42, "world"); cat("{}"); printf("after\n"); exit(); }}"#,
        file.display()
    );
    let out = rtrace(&["--unsafe", "-e", &script]);
    std::fs::remove_file(&file).unwrap();
    assert!(out.status.success(), "{}", out.stderr);
    let body: Vec<&str> = out.stdout.iter().skip(1).map(String::as_str).collect();
    assert_eq!(
        &body[..5],
        [
            "before",
            "hello 42 world",
            "first line",
            "second line",
            "after"
        ],
        "{:?}",
        out.stdout
    );
}

#[test]
fn cat_from_a_kernel_probe_with_a_formatted_path() {
    let script = r#"tracepoint:syscalls:sys_enter_getppid /tid == $1/ { cat("/proc/%d/comm", pid); exit(); }"#;
    let pid = this_thread();
    let tracer = Tracer::start(&["-e", script, &pid]);
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() };
    let out = tracer.wait(Duration::from_secs(30));
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    assert!(
        out.stdout.contains(&comm.trim_end().to_string()),
        "want {comm:?} in {:?}",
        out.stdout
    );
}

/// This test's thread id: tests run in parallel threads of one process, so
/// probes filter on the thread that makes the traced call.
fn this_thread() -> String {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }.to_string()
}

fn local_now(format: &str) -> String {
    let out = Command::new("date")
        .arg(format!("+{format}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn strftime_matches_the_local_clock() {
    let script = r#"tracepoint:syscalls:sys_enter_getppid /tid == $1/ { printf("k %s\n", strftime("%Y-%m-%d %H:%M", nsecs)); exit(); }
END { printf("u %s|%s\n", strftime("%Y-%m-%d %H:%M", nsecs), strftime("%f", 1234567890)); }"#;
    let pid = this_thread();
    let before = local_now("%Y-%m-%d %H:%M");
    let tracer = Tracer::start(&["-e", script, &pid]);
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() };
    let out = tracer.wait(Duration::from_secs(30));
    let after = local_now("%Y-%m-%d %H:%M");
    let ok = |line: &str| line == before || line == after;
    let k = out.stdout.iter().find_map(|l| l.strip_prefix("k "));
    assert!(
        k.is_some_and(ok),
        "kernel strftime {k:?}, clock {before}..{after}"
    );
    let u = out
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("u "))
        .unwrap();
    let (wall, micros) = u.split_once('|').unwrap();
    assert!(ok(wall), "user strftime {wall}, clock {before}..{after}");
    // `%f` is the microseconds, always six digits.
    assert!(
        micros.len() == 6 && micros.bytes().all(|b| b.is_ascii_digit()),
        "{u}"
    );
}

/// Where cgroup v2 is mounted (`/sys/fs/cgroup`, or `…/unified` on hybrid systems).
fn cgroup2_root() -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    mounts
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.get(2) == Some(&"cgroup2")).then(|| f[1].to_string())
        })
        .expect("a cgroup2 mount")
}

#[test]
fn cgroupid_matches_the_cgroup_builtin() {
    let dir = format!("{}/rtrace-funcs-{}", cgroup2_root(), std::process::id());
    std::fs::create_dir(&dir).expect("create a cgroup v2 directory");
    let bin = build("funcs_target", &[]);
    let mut target = LineProcess::spawn(&bin, &[]);
    target.out.expect("ready", Duration::from_secs(10));
    std::fs::write(format!("{dir}/cgroup.procs"), target.pid().to_string()).unwrap();
    let script = format!(
        r#"tracepoint:syscalls:sys_enter_getppid /cgroup == cgroupid("{dir}")/ {{ printf("in %d %d %d\n", pid, cgroup, cgroupid("{dir}")); exit(); }}"#
    );
    let tracer = Tracer::start(&["-e", &script]);
    target.send("ppid");
    let out = tracer.wait(Duration::from_secs(30));
    let pid = target.pid();
    target.finish();
    let _ = std::fs::remove_dir(&dir);
    let line = out
        .stdout
        .iter()
        .find(|l| l.starts_with("in "))
        .unwrap_or_else(|| panic!("{out:?}"));
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f[1], pid.to_string(), "{line}");
    assert_eq!(f[2], f[3], "cgroup builtin and cgroupid differ: {line}");
}

/// Lines of the global trace pipe, read on a thread (reading it consumes them).
fn trace_pipe_lines() -> mpsc::Receiver<String> {
    ensure_tracefs();
    let (tx, rx) = mpsc::channel();
    let pipe = std::fs::File::open("/sys/kernel/tracing/trace_pipe").expect("open trace_pipe");
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn debugf_writes_to_the_trace_pipe() {
    let lines = trace_pipe_lines();
    let marker = format!("rtrace-debugf-{}", std::process::id());
    let script = format!(
        r#"tracepoint:syscalls:sys_enter_getppid /tid == $1/ {{ debugf("{marker} %d %x %u", -42, 255, 7); exit(); }}"#
    );
    let pid = this_thread();
    let tracer = Tracer::start(&["-e", &script, &pid]);
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() };
    tracer.wait(Duration::from_secs(30));
    let want = format!("{marker} -42 ff 7");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            if line.ends_with(&want) {
                return;
            }
        }
    }
    panic!("`{want}` never appeared in the trace pipe");
}

fn compile_error(args: &[&str]) -> String {
    let out = rtrace(args);
    assert!(!out.status.success(), "accepted: {args:?}");
    out.stderr
}

#[test]
fn unsafe_functions_need_the_flag() {
    let err = compile_error(&["-e", r#"BEGIN { system("true"); }"#]);
    assert!(
        err.contains("system() is unsafe and needs --unsafe"),
        "{err}"
    );
    assert!(err.contains("pass --unsafe"), "{err}");
    let err = compile_error(&[
        "--dry-run",
        "-e",
        r#"tracepoint:syscalls:sys_enter_getppid { signal("KILL"); }"#,
    ]);
    assert!(
        err.contains("signal() is unsafe and needs --unsafe"),
        "{err}"
    );
    // The error points at the call.
    assert!(err.contains("^^^^^^^^^^^^^^ unsafe function"), "{err}");
}

#[test]
fn functions_used_where_the_kernel_forbids_them() {
    let err = compile_error(&[
        "--unsafe",
        "--dry-run",
        "-e",
        "tracepoint:syscalls:sys_enter_getppid { override(-1); }",
    ]);
    assert!(
        err.contains("override() can only be used in kprobes"),
        "{err}"
    );
    let err = compile_error(&[
        "--dry-run",
        "-e",
        "tracepoint:syscalls:sys_enter_openat { print(path(args->filename)); }",
    ]);
    assert!(
        err.contains("path() can only be used in fentry probes"),
        "{err}"
    );
    let err = compile_error(&["--unsafe", "-e", r#"BEGIN { signal("KILL"); }"#]);
    assert!(
        err.contains("signal() can only be used in kernel probes"),
        "{err}"
    );
    let err = compile_error(&["-e", "BEGIN { unwatch(0x1000); }"]);
    assert!(err.contains("unwatch() is not supported"), "{err}");
    let err = compile_error(&["-e", r#"BEGIN { print(pton("1.2.3")); }"#]);
    assert!(err.contains("not an IPv4 or IPv6 address"), "{err}");
    let err = compile_error(&[
        "-e",
        r#"BEGIN { print(cgroupid("/sys/fs/cgroup/no/such")); }"#,
    ]);
    assert!(err.contains("cannot stat"), "{err}");
    let err = compile_error(&[
        "--unsafe",
        "--dry-run",
        "-e",
        r#"tracepoint:syscalls:sys_enter_getppid { signal("NOPE"); }"#,
    ]);
    assert!(err.contains("unknown signal `NOPE`"), "{err}");
}

/// bpf_override_return is compiled for kprobes. This kernel has neither
/// kprobes nor CONFIG_BPF_KPROBE_OVERRIDE, so the verifier can only refuse the
/// helper itself: the program is checked to call it, and the dry run to fail
/// for that reason alone (or to pass on a kernel that has it).
#[test]
fn override_in_a_kprobe_calls_bpf_override_return() {
    let script = "kprobe:__x64_sys_getppid { override(-1); }";
    let listing = rtrace(&["--unsafe", "-d", "bpf", "-e", script]);
    assert!(listing.status.success(), "{}", listing.stderr);
    assert!(
        listing
            .stdout
            .iter()
            .any(|l| l.ends_with("call bpf_override_return")),
        "{:?}",
        listing.stdout
    );
    let out = rtrace(&["--unsafe", "--dry-run", "-e", script]);
    if !out.status.success() {
        assert!(
            out.stderr
                .contains("program of this type cannot use helper bpf_override_return"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn networking_tools_pass_the_verifier() {
    for tool in [
        "tcpconnect",
        "tcpaccept",
        "tcpretrans",
        "tcplife",
        "oomkill",
    ] {
        let path = format!("/usr/sbin/{tool}.bt");
        let out = rtrace(&["--dry-run", &path]);
        assert!(out.status.success(), "{tool}: {}", out.stderr);
        assert!(out.stderr.contains("accepted by the verifier"), "{tool}");
    }
}
