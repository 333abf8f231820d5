//! x86-64 system call numbers by syscall tracepoint name.
//!
//! The numbers are the stdlib's syscall table ([`rtrace_stdlib::syscall_names`],
//! from the `libc` crate's `SYS_*` constants plus calls newer than that release).
//! Tracepoints are named after the kernel's `SYSCALL_DEFINE` names, which differ
//! from the syscall names in a few places; those are listed here. A tracepoint
//! whose syscall has no known number is attached as an ordinary tracepoint.

use rtrace_stdlib::syscall_names::syscall_number;

/// (tracepoint name without `sys_enter_`/`sys_exit_`, syscall name) where they differ.
const TRACEPOINT_RENAMES: &[(&str, &str)] = &[
    ("newstat", "stat"),
    ("newfstat", "fstat"),
    ("newlstat", "lstat"),
    ("sendfile64", "sendfile"),
    ("newuname", "uname"),
    ("umount", "umount2"),
];

/// The syscall number behind `tracepoint:syscalls:sys_enter_<name>` / `sys_exit_<name>`.
pub fn number(name: &str) -> Option<u32> {
    let syscall = TRACEPOINT_RENAMES
        .iter()
        .find(|(tracepoint, _)| *tracepoint == name)
        .map_or(name, |(_, syscall)| syscall);
    syscall_number(syscall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renamed_and_new_syscalls_map() {
        assert_eq!(number("read"), Some(0));
        assert_eq!(number("newstat"), Some(4));
        assert_eq!(number("umount"), Some(166));
        assert_eq!(number("sendfile64"), Some(40));
        assert_eq!(number("mseal"), Some(462));
        assert_eq!(number("cachestat"), Some(451));
        assert_eq!(number("no_such_call"), None);
    }

    #[test]
    fn every_syscall_tracepoint_here_has_a_number() {
        // The running kernel's syscall tracepoints all map (the tables are complete).
        let dir = std::fs::read_dir("/sys/kernel/tracing/events/syscalls")
            .expect("tracefs mounted at /sys/kernel/tracing (as .ci/run does)");
        let missing: Vec<String> = dir
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_prefix("sys_enter_").map(str::to_string)
            })
            .filter(|n| number(n).is_none())
            .collect();
        assert!(missing.is_empty(), "no number for {missing:?}");
    }
}
