//! Reading the `-c` command's memory map at its exit.
//!
//! User addresses (`ustack`, `usym`) are symbolised in user space from
//! `/proc/PID/maps`, which vanishes when the process exits; a command that
//! exits right after a probe fires is gone before the event is read. rtrace
//! started the command, so it follows it with `PTRACE_SEIZE` and
//! `PTRACE_O_TRACEEXIT`: the kernel stops the command at the start of its exit,
//! while its memory is intact, the map is saved, and the command goes on.
//! Signals pass through unchanged and job-control stops stay stops
//! (`PTRACE_LISTEN`), so the command behaves as without rtrace.

use rtrace_runtime::usyms::remember_exit_maps;

/// Start following `pid` (our child, not yet exec'd). False if the kernel
/// refuses (e.g. a Yama policy): the command then runs untraced.
pub fn seize(pid: i32) -> bool {
    let options = libc::PTRACE_O_TRACEEXIT as libc::c_long;
    // SAFETY: PTRACE_SEIZE on our own child; no memory is passed.
    let rc = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0 as libc::c_long, options) };
    rc == 0
}

/// Wait until `pid` (seized by this thread) has exited and reap it, saving
/// its memory map at its exit stop and resuming it from every other stop.
pub fn wait_traced(pid: i32) {
    loop {
        let mut status = 0;
        // SAFETY: waiting for our own child; `status` is ours.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if rc < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            return;
        }
        if libc::WIFSTOPPED(status) {
            resume(pid, status);
        }
    }
}

fn is_stop_signal(signal: i32) -> bool {
    matches!(
        signal,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
    )
}

/// Continue `pid` from the stop `status` describes.
fn resume(pid: i32, status: i32) {
    let event = status >> 16;
    let signal = libc::WSTOPSIG(status);
    let (request, data) = if event == libc::PTRACE_EVENT_EXIT {
        if let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) {
            remember_exit_maps(pid as u32, maps);
        }
        (libc::PTRACE_CONT, 0)
    } else if event == libc::PTRACE_EVENT_STOP && is_stop_signal(signal) {
        // A group stop (SIGSTOP, SIGTSTP …): stay stopped until SIGCONT.
        (libc::PTRACE_LISTEN, 0)
    } else if event != 0 {
        // Other event stops (the one after SIGCONT ends a group stop).
        (libc::PTRACE_CONT, 0)
    } else {
        // A signal on its way to the command: deliver it.
        (libc::PTRACE_CONT, signal)
    };
    // SAFETY: resuming our own tracee; no memory is passed.
    unsafe { libc::ptrace(request, pid, 0 as libc::c_long, data as libc::c_long) };
}
