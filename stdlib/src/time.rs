//! `time(fmt)`: wall-clock time in the local time zone, with strftime(3) formats.

use std::ffi::CString;

/// What `time()` prints without an argument.
pub const DEFAULT_TIME_FORMAT: &str = "%H:%M:%S\n";

/// The current local time formatted with `format` (strftime conversions).
pub fn format_now(format: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format_unix_time(format, now.as_secs() as i64, now.subsec_nanos())
}

/// Formats the local time `secs` (+ `nanos`) after the Unix epoch. Besides the
/// strftime conversions, `%f` prints the microseconds (as bpftrace's `strftime()`).
pub fn format_unix_time(format: &str, secs: i64, nanos: u32) -> String {
    let format = expand_microseconds(format, nanos / 1000);
    let Some(tm) = local_time(secs) else {
        return String::new();
    };
    strftime(&format, &tm)
}

/// Replaces `%f` with six-digit microseconds, leaving `%%f` alone.
fn expand_microseconds(format: &str, micros: u32) -> String {
    let mut out = String::with_capacity(format.len());
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('f') => out.push_str(&format!("{micros:06}")),
            Some(next) => {
                out.push('%');
                out.push(next);
            }
            None => out.push('%'),
        }
    }
    out
}

fn local_time(secs: i64) -> Option<libc::tm> {
    let t = libc::time_t::try_from(secs).ok()?;
    // SAFETY: `tm` is plain data for which all-zero is valid; localtime_r only
    // writes into it and reads `t`, both valid for the duration of the call.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        (!libc::localtime_r(&t, &mut tm).is_null()).then_some(tm)
    }
}

/// strftime(3) into a growing buffer (it returns 0 both for "too small" and for
/// an empty result, so stop growing at a generous bound).
fn strftime(format: &str, tm: &libc::tm) -> String {
    // A format cannot carry a NUL through C; cut there, as C would.
    let format = format.split('\0').next().unwrap_or("");
    let Ok(c_format) = CString::new(format) else {
        return String::new();
    };
    let mut capacity = 64 + format.len() * 4;
    while capacity <= 1 << 20 {
        let mut buf = vec![0u8; capacity];
        // SAFETY: `buf` has `capacity` writable bytes, `c_format` is
        // NUL-terminated and `tm` was filled by localtime_r.
        let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), capacity, c_format.as_ptr(), tm) };
        if n > 0 || format.is_empty() {
            buf.truncate(n);
            return String::from_utf8_lossy(&buf).into_owned();
        }
        capacity *= 4;
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_expand_only_for_percent_f() {
        assert_eq!(expand_microseconds("%S.%f %%f", 42), "%S.000042 %%f");
    }
}
