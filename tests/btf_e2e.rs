//! End-to-end: kernel types from BTF on the real kernel, with data the test
//! knows. A TCP connection on 127.0.0.1 whose ports the test chose is read back
//! through `(struct sock *)args->skaddr` (tracepoint) and `args.sk` (raw
//! tracepoint, typed from BTF); `curtask` fields are checked against the
//! sending thread (pid, tid, comm, a bitfield the thread set); a UDP socket's
//! `sk_no_check_tx` bitfield follows `SO_NO_CHECK`; a user-space `sockaddr_in`
//! is read through a syscall tracepoint's user pointer; enums print by name;
//! sizeof/offsetof agree with the BTF reader.

mod common;

use common::*;
use rtrace_compiler::btf::Btf;
use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);
/// `SCHED_RESET_ON_FORK` (linux/sched.h): sets `task_struct::sched_reset_on_fork`.
const SCHED_RESET_ON_FORK: i32 = 0x4000_0000;
/// `SO_NO_CHECK` (asm-generic/socket.h): sets `sock::sk_no_check_tx`.
const SO_NO_CHECK: i32 = 11;

fn btf() -> Btf {
    Btf::load_vmlinux().expect("kernel BTF")
}

/// Run `f` on a thread whose name (and so its comm) is `name`.
fn on_thread(name: &str, f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

fn assert_has(out: &str, line: &str) {
    assert!(
        out.lines().any(|l| l == line),
        "missing line {line:?} in:\n{out}"
    );
}

#[test]
fn tcp_connection_read_through_struct_sock_and_curtask() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let be = port.swap_bytes();
    let script = format!(
        r#"
tracepoint:sock:inet_sock_set_state /args->newstate == 1 && (args->sport == {port} || args->dport == {port})/ {{
  $sk = (struct sock *)args->skaddr;
  printf("tp num=%d dport=%d daddr=%x family=%d\n", $sk->__sk_common.skc_num,
         $sk->__sk_common.skc_dport, $sk->__sk_common.skc_daddr, $sk->__sk_common.skc_family);
}}
rawtracepoint:inet_sock_set_state /args.newstate == 1 && (args.sk->__sk_common.skc_num == {port} || args.sk->__sk_common.skc_dport == {be})/ {{
  printf("rt num=%d dport=%d\n", args.sk->__sk_common.skc_num, args.sk.__sk_common.skc_dport);
  @states[args.sk->sk_socket->state] = count();
}}
tracepoint:sock:sock_send_length /((struct sock *)args->sk)->__sk_common.skc_dport == {be}/ {{
  $sk = (struct sock *)args->sk;
  printf("send ret=%d num=%d\n", args->ret, $sk->__sk_common.skc_num);
  printf("task tgid=%d pid=%d same_comm=%d comm=%s reset=%d\n", curtask->tgid == pid,
         curtask->pid == tid, curtask->comm == comm, curtask->comm, curtask->sched_reset_on_fork);
  $c = &curtask->comm[0];
  printf("arith c2=%c diff=%d step=%d\n", *($c + 2), ($c + 5) - $c,
         (uint64)(curtask + 1) - (uint64)curtask == sizeof(struct task_struct));
  exit();
}}
"#
    );
    let client_port = std::sync::Arc::new(std::sync::Mutex::new(0u16));
    let seen = client_port.clone();
    let out = trace_while(
        &["-e", &script],
        move || {
            on_thread("btfsend", move || {
                let param = libc::sched_param { sched_priority: 0 };
                // SAFETY: changes the calling thread's own scheduling flags.
                let rc = unsafe {
                    libc::sched_setscheduler(0, libc::SCHED_OTHER | SCHED_RESET_ON_FORK, &param)
                };
                assert_eq!(rc, 0, "sched_setscheduler");
                let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let (_server, _) = listener.accept().unwrap();
                *seen.lock().unwrap() = client.local_addr().unwrap().port();
                client.write_all(b"hello").unwrap();
            })
        },
        LIMIT,
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    let client = *client_port.lock().unwrap();
    let (cbe, daddr) = (client.swap_bytes(), u32::from_ne_bytes([127, 0, 0, 1]));
    assert_has(
        &text,
        &format!("tp num={client} dport={be} daddr={daddr:x} family=2"),
    );
    assert_has(
        &text,
        &format!("tp num={port} dport={cbe} daddr={daddr:x} family=2"),
    );
    assert_has(&text, &format!("rt num={client} dport={be}"));
    assert_has(&text, &format!("rt num={port} dport={cbe}"));
    assert_has(&text, &format!("send ret=5 num={client}"));
    assert_has(&text, "task tgid=1 pid=1 same_comm=1 comm=btfsend reset=1");
    assert_has(&text, "arith c2=f diff=5 step=1");
    // The client is connecting when it becomes established (the enum by name).
    assert_has(&text, "@states[SS_CONNECTING]: 1");
}

#[test]
fn udp_bitfield_follows_so_no_check() {
    let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
    let flagged = UdpSocket::bind("127.0.0.1:0").unwrap();
    let one: i32 = 1;
    // SAFETY: setsockopt on a socket we own, with a valid int option value.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&flagged),
            libc::SOL_SOCKET,
            SO_NO_CHECK,
            (&one as *const i32).cast(),
            4,
        )
    };
    assert_eq!(rc, 0);
    let (a, b) = (
        plain.local_addr().unwrap().port(),
        flagged.local_addr().unwrap().port(),
    );
    let script = format!(
        r#"tracepoint:sock:sock_send_length /((struct sock *)args->sk)->__sk_common.skc_num == {a} ||
                                         ((struct sock *)args->sk)->__sk_common.skc_num == {b}/ {{
  $sk = (struct sock *)args->sk;
  printf("port=%d no_check_tx=%d no_check_rx=%d ret=%d\n", $sk->__sk_common.skc_num,
         $sk->sk_no_check_tx, $sk->sk_no_check_rx, args->ret);
  @n++;
  if (@n == 2) {{ exit(); }}
}}"#
    );
    let target = plain.local_addr().unwrap();
    let out = trace_while(
        &["-e", &script],
        move || {
            plain.send_to(b"abc", target).unwrap();
            flagged.send_to(b"abcd", target).unwrap();
        },
        LIMIT,
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert_has(
        &text,
        &format!("port={a} no_check_tx=0 no_check_rx=0 ret=3"),
    );
    assert_has(
        &text,
        &format!("port={b} no_check_tx=1 no_check_rx=0 ret=4"),
    );
}

#[test]
fn syscall_pointer_reads_user_memory() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        r#"tracepoint:syscalls:sys_enter_connect /pid == {pid}/ {{
  $sa = (struct sockaddr_in *)args->uservaddr;
  printf("family=%d port=%d addr=%x len=%d\n", $sa->sin_family, $sa->sin_port,
         $sa->sin_addr.s_addr, args->addrlen);
  printf("kernel read of a user address=%d\n", ((struct sockaddr_in *)kptr(args->uservaddr))->sin_family);
  exit();
}}"#,
        pid = std::process::id()
    );
    let out = trace_while(
        &["-e", &script],
        move || {
            let _c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        },
        LIMIT,
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    let addr = u32::from_ne_bytes([127, 0, 0, 1]);
    assert_has(
        &text,
        &format!("family=2 port={} addr={addr:x} len=16", port.swap_bytes()),
    );
    // probe_read_kernel refuses user addresses: the read faults and gives 0.
    assert_has(&text, "kernel read of a user address=0");
}

#[test]
fn sizeof_and_offsetof_agree_with_btf() {
    let btf = btf();
    let task = btf.find_struct("task_struct").unwrap();
    let sock = btf.find_struct("sock").unwrap();
    let expected = format!(
        "{} {} {} {} {}",
        btf.size_of(task).unwrap(),
        btf.member(sock, "__sk_common.skc_dport").unwrap().offset,
        btf.size_of(sock).unwrap(),
        btf.member(task, "comm").unwrap().offset,
        16
    );
    let script = "BEGIN { printf(\"%d %d %d %d %d\\n\", sizeof(struct task_struct), \
                  offsetof(struct sock, __sk_common.skc_dport), sizeof(struct sock), \
                  offsetof(struct task_struct, comm), sizeof(curtask->comm)); exit(); }";
    let out = run(&["-e", script], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_has(&stdout(&out), &expected);
}

#[test]
fn kernel_reads_in_begin_read_nothing() {
    // BEGIN runs in rtrace itself, where there is no task to read: zero, as bpftrace.
    let out = run(
        &[
            "-e",
            "BEGIN { printf(\"%d %s.\\n\", curtask->pid, curtask->comm); exit(); }",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_has(&stdout(&out), "0 .");
}

#[test]
fn raw_tracepoint_args_by_name_on_sched_switch() {
    // Every switch has a `next` task with a comm; the map is keyed by it.
    let out = run(
        &[
            "-e",
            "rawtracepoint:sched_switch { @[args.next->comm] = count(); @n++; if (@n > 20) { exit(); } }",
        ],
        None,
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(
        text.lines()
            .any(|l| l.starts_with("@[") && l.contains("]: ")),
        "{text}"
    );
}

#[test]
fn unknown_field_is_reported_with_a_suggestion() {
    let out = run(
        &[
            "-e",
            "kprobe:tcp_sendmsg { @ = ((struct sock *)arg0)->__sk_common.skc_dprt; }",
        ],
        None,
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("`struct sock_common` has no field named `skc_dprt`"),
        "{err}"
    );
    assert!(err.contains("did you mean `skc_dport`?"), "{err}");
}

/// naptime.bt from bpftrace's tools, run in place: `args->rqtp->tv_sec` reads a
/// user `struct __kernel_timespec`, `$task->real_parent->comm` kernel memory.
#[test]
fn naptime_tool_reads_timespec_and_parent() {
    let tool = "/usr/sbin/naptime.bt";
    if !std::path::Path::new(tool).exists() {
        eprintln!("{tool} is not installed; skipping");
        return;
    }
    ensure_tracefs();
    let mut child = std::process::Command::new(RTRACE)
        .arg(tool)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    // "Attaching 2 probes...", the banner and the header come once attached.
    for _ in 0..3 {
        lines.next().unwrap().unwrap();
    }
    on_thread("napper", || {
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 250_000_000,
        };
        // SAFETY: nanosleep(2) with a valid timespec and no remainder pointer.
        let rc =
            unsafe { libc::syscall(libc::SYS_nanosleep, &ts, std::ptr::null::<libc::timespec>()) };
        assert_eq!(rc, 0);
    });
    let line = lines.next().unwrap().unwrap();
    kill(child.id(), libc::SIGINT);
    let out = wait_output(child, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let ppid = std::os::unix::process::parent_id();
    let pcomm = std::fs::read_to_string(format!("/proc/{ppid}/comm")).unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        fields[1..],
        [
            ppid.to_string().as_str(),
            pcomm.trim(),
            std::process::id().to_string().as_str(),
            "napper",
            "0.250"
        ],
        "{line}"
    );
}
