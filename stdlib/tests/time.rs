//! `time()` formatting. TZ=UTC is set before the first localtime call so the
//! results do not depend on the machine's zone; everything runs in one test so
//! no other thread reads the environment meanwhile.

use rtrace_stdlib::time::{format_now, format_unix_time, DEFAULT_TIME_FORMAT};

#[test]
fn time_formats() {
    std::env::set_var("TZ", "UTC");

    // strftime conversions.
    assert_eq!(
        format_unix_time("%Y-%m-%d %H:%M:%S", 1_700_000_000, 0),
        "2023-11-14 22:13:20"
    );
    assert_eq!(format_unix_time(DEFAULT_TIME_FORMAT, 0, 0), "00:00:00\n");
    assert_eq!(format_unix_time("[%H]%%", 3600, 0), "[01]%");

    // %f gives microseconds, as bpftrace's strftime().
    assert_eq!(format_unix_time("%S.%f", 59, 123_456_789), "59.123456");

    // Empty and long results.
    assert_eq!(format_unix_time("", 0, 0), "");
    let long = "%Y".repeat(500);
    assert_eq!(format_unix_time(&long, 0, 0), "1970".repeat(500));

    // The current time is the clock's.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let printed: u64 = format_now("%s").parse().unwrap();
    assert!(printed.abs_diff(secs) <= 1, "{printed} vs {secs}");
}
