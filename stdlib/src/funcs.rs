//! Text forms of the values made by `ntop`, `macaddr`, `strftime` and `pton`.

use crate::time;
use crate::types::{INET_ADDR, INET_FAMILY};
use crate::value::read_u64;
use std::net::{Ipv4Addr, Ipv6Addr};

/// `AF_INET` and `AF_INET6` on Linux.
pub const AF_INET: u64 = 2;
pub const AF_INET6: u64 = 10;

/// An `Inet` value: IPv4 dotted quad, IPv6 in the usual compressed form, and
/// nothing for another family (as bpftrace prints it).
pub fn format_inet(bytes: &[u8]) -> String {
    let family = read_u64(bytes, INET_FAMILY);
    let addr = |n: usize| {
        let mut out = [0u8; 16];
        let start = (INET_ADDR as usize).min(bytes.len());
        let src = &bytes[start..(start + n).min(bytes.len())];
        out[..src.len()].copy_from_slice(src);
        out
    };
    match family {
        AF_INET => {
            let a = addr(4);
            Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string()
        }
        AF_INET6 => Ipv6Addr::from(addr(16)).to_string(),
        _ => String::new(),
    }
}

/// A MAC address: six bytes, upper-case hex, colon separated.
pub fn format_mac(bytes: &[u8]) -> String {
    (0..6)
        .map(|i| format!("{:02X}", bytes.get(i).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(":")
}

/// A byte array as bpftrace prints one: `[1,2,3,4]`.
pub fn format_bytes(bytes: &[u8]) -> String {
    let items: Vec<String> = bytes.iter().map(|b| b.to_string()).collect();
    format!("[{}]", items.join(","))
}

/// `strftime(fmt, ns)`: `ns` is a monotonic timestamp (the `nsecs` builtin),
/// shown as the local wall-clock time it corresponds to.
pub fn format_timestamp(format: &str, monotonic_ns: u64) -> String {
    let wall_ns = monotonic_ns as i128 + wall_minus_monotonic_ns();
    let secs = wall_ns.div_euclid(1_000_000_000) as i64;
    let nanos = wall_ns.rem_euclid(1_000_000_000) as u32;
    time::format_unix_time(format, secs, nanos)
}

/// CLOCK_REALTIME − CLOCK_MONOTONIC, now.
fn wall_minus_monotonic_ns() -> i128 {
    clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_MONOTONIC)
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// `pton("…")`: the address bytes in network order, or None if it is neither
/// an IPv4 nor an IPv6 address.
pub fn parse_address(text: &str) -> Option<Vec<u8>> {
    if let Ok(v4) = text.parse::<Ipv4Addr>() {
        return Some(v4.octets().to_vec());
    }
    text.parse::<Ipv6Addr>().ok().map(|v6| v6.octets().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(family: u64, addr: &[u8]) -> Vec<u8> {
        let mut b = family.to_le_bytes().to_vec();
        b.extend_from_slice(addr);
        b.resize(24, 0);
        b
    }

    #[test]
    fn inet_prints_by_family() {
        assert_eq!(format_inet(&inet(2, &[127, 0, 0, 1])), "127.0.0.1");
        let mut loopback6 = [0u8; 16];
        loopback6[15] = 1;
        assert_eq!(format_inet(&inet(10, &loopback6)), "::1");
        let fe80 = parse_address("fe80::1:2").unwrap();
        assert_eq!(format_inet(&inet(10, &fe80)), "fe80::1:2");
        assert_eq!(format_inet(&inet(7, &[1, 2, 3, 4])), "");
    }

    #[test]
    fn mac_and_bytes() {
        assert_eq!(
            format_mac(&[0xde, 0xad, 0xbe, 0xef, 0x0a, 0x01, 0xff, 0xff]),
            "DE:AD:BE:EF:0A:01"
        );
        assert_eq!(format_bytes(&[1, 2, 3, 4]), "[1,2,3,4]");
    }

    #[test]
    fn pton_parses_both_families() {
        assert_eq!(parse_address("1.2.3.4"), Some(vec![1, 2, 3, 4]));
        assert_eq!(parse_address("::1").map(|v| v.len()), Some(16));
        assert_eq!(parse_address("1.2.3"), None);
    }

    #[test]
    fn timestamps_follow_the_wall_clock() {
        let mono = clock_ns(libc::CLOCK_MONOTONIC) as u64;
        let year_now = time::format_now("%Y");
        assert_eq!(format_timestamp("%Y", mono), year_now);
        assert_eq!(format_timestamp("%f", 1_234_567_000).len(), 6);
    }
}
