//! Kernel `#define` constants that scripts use by name after including a kernel
//! header (`#include <linux/socket.h>` … `AF_INET`). BTF has enums but no macros,
//! and rtrace reads no headers, so the constants bpftrace's tools and common
//! one-liners rely on are listed here with their (ABI-stable) values.

/// `(name, value)`, grouped by the header that defines them.
const MACROS: &[(&str, i64)] = &[
    // linux/socket.h
    ("AF_UNSPEC", 0),
    ("AF_UNIX", 1),
    ("AF_LOCAL", 1),
    ("AF_INET", 2),
    ("AF_INET6", 10),
    ("AF_NETLINK", 16),
    ("AF_PACKET", 17),
    ("AF_VSOCK", 40),
    ("PF_UNSPEC", 0),
    ("PF_UNIX", 1),
    ("PF_INET", 2),
    ("PF_INET6", 10),
    // linux/in.h
    ("IPPROTO_IP", 0),
    ("IPPROTO_ICMP", 1),
    ("IPPROTO_TCP", 6),
    ("IPPROTO_UDP", 17),
    ("IPPROTO_ICMPV6", 58),
    ("IPPROTO_SCTP", 132),
    ("IPPROTO_MPTCP", 262),
    // linux/net.h
    ("SOCK_STREAM", 1),
    ("SOCK_DGRAM", 2),
    ("SOCK_RAW", 3),
    ("SOCK_SEQPACKET", 5),
    // linux/sched.h: task states
    ("TASK_RUNNING", 0x0000),
    ("TASK_INTERRUPTIBLE", 0x0001),
    ("TASK_UNINTERRUPTIBLE", 0x0002),
    ("__TASK_STOPPED", 0x0004),
    ("__TASK_TRACED", 0x0008),
    ("EXIT_DEAD", 0x0010),
    ("EXIT_ZOMBIE", 0x0020),
    ("TASK_PARKED", 0x0040),
    ("TASK_DEAD", 0x0080),
    ("TASK_WAKEKILL", 0x0100),
    ("TASK_WAKING", 0x0200),
    ("TASK_NOLOAD", 0x0400),
    ("TASK_NEW", 0x0800),
    ("TASK_KILLABLE", 0x0102),
    ("TASK_STOPPED", 0x0104),
    ("TASK_TRACED", 0x0008),
    ("TASK_IDLE", 0x0402),
    ("PF_KTHREAD", 0x0020_0000),
    // linux/fcntl.h (x86)
    ("O_RDONLY", 0),
    ("O_WRONLY", 1),
    ("O_RDWR", 2),
    ("O_CREAT", 0o100),
    ("O_EXCL", 0o200),
    ("O_TRUNC", 0o1000),
    ("O_APPEND", 0o2000),
    ("O_NONBLOCK", 0o4000),
    ("O_DIRECTORY", 0o200000),
    ("O_CLOEXEC", 0o2000000),
];

/// The value of kernel macro `name`, if it is one rtrace knows.
pub fn value(name: &str) -> Option<i64> {
    MACROS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tool_constants() {
        assert_eq!(super::value("AF_INET6"), Some(10));
        assert_eq!(super::value("TASK_RUNNING"), Some(0));
        assert_eq!(super::value("AF_NOPE"), None);
    }
}
