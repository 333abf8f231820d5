//! The engine API the CLI and the REPL drive: single probes attached and detached
//! while others keep running, maps printed and cleared mid-run (real kernel).

use rtrace_compiler::pipeline::{self, Options};
use rtrace_runtime::events::EventSink;
use rtrace_runtime::loader::Loader;
use rtrace_runtime::session::Session;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

/// Output captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

fn syscalls(nr: libc::c_long, n: usize) {
    for _ in 0..n {
        // SAFETY: getppid/getpgid(0) have no preconditions.
        unsafe { libc::syscall(nr, 0) };
    }
}

#[test]
fn probes_attach_and_detach_one_at_a_time_while_others_run() {
    if !std::path::Path::new("/sys/kernel/tracing/events").is_dir() {
        let _ = std::process::Command::new("mount")
            .args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"])
            .status();
    }
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) }.to_string();
    let script = "tracepoint:syscalls:sys_enter_getppid /tid == $1/ { @a = count(); }
                  tracepoint:syscalls:sys_enter_getpgid /tid == $1/ { @b = count(); }";
    let mut opts = Options::default();
    opts.check.params = vec![tid];
    let compiled = pipeline::compile(script, &opts).expect("compiles");
    let out = Captured::default();
    let mut loader = Loader::new();
    let mut s = Session::load(
        compiled,
        &mut loader,
        EventSink::new(Box::new(out.clone()), false),
    )
    .expect("loads");
    assert_eq!(s.attach_all().expect("attaches"), 2);

    syscalls(libc::SYS_getppid, 3);
    syscalls(libc::SYS_getpgid, 3);
    assert!(s.detach_probe(0), "probe 0 was attached");
    syscalls(libc::SYS_getppid, 5);
    syscalls(libc::SYS_getpgid, 5);
    s.print_map(0, 0, 1).unwrap();
    s.print_map(1, 0, 1).unwrap();
    assert_eq!(out.take(), "@a: 3\n@b: 8\n");

    s.clear_map(1).unwrap();
    s.attach_probe(0).expect("re-attaches");
    syscalls(libc::SYS_getppid, 2);
    syscalls(libc::SYS_getpgid, 1);
    s.print_map(0, 0, 1).unwrap();
    s.print_map(1, 0, 1).unwrap();
    assert_eq!(out.take(), "@a: 5\n@b: 1\n");

    assert_eq!(s.finish().unwrap(), 0);
    assert_eq!(out.take(), "\n\n@a: 5\n@b: 1\n");
}
