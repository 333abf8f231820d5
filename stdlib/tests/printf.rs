//! printf conversions against what bpftrace 0.17 (or, where 0.17 cannot parse
//! the format, glibc's printf) printed on this machine.

mod common;

use common::*;
use rtrace_stdlib::printf::parse_format;
use rtrace_stdlib::types::Type;

/// Renders `format` with arguments laid out as an event record of `args`.
fn render(format: &str, args: &[(Type, Vec<u8>)]) -> String {
    let parsed = parse_format(format).expect("format parses");
    let types: Vec<Type> = args.iter().map(|(t, _)| t.clone()).collect();
    parsed.check_args(&types).expect("arguments fit the format");
    parsed.render_record(&types, &tuple(args), &FixedResolver::new())
}

fn i(v: i64) -> (Type, Vec<u8>) {
    (Type::I64, int(v))
}

fn s(v: &str) -> (Type, Vec<u8>) {
    (Type::Str { len: 64 }, string(v, 64))
}

#[test]
fn length_modifiers_truncate_like_c() {
    // printf("[%u][%llu][%d][%lld][%ld][%lu]\n", -1, -1, -1, -1, -1, -1)
    assert_eq!(
        render(
            "[%u][%llu][%d][%lld][%ld][%lu]\n",
            &[i(-1), i(-1), i(-1), i(-1), i(-1), i(-1)]
        ),
        "[4294967295][18446744073709551615][-1][-1][-1][18446744073709551615]\n"
    );
    // printf("[%x][%X][%lx][%llx][%o][%lo]\n", -1, 255, -1, 255, 8, -1)
    assert_eq!(
        render(
            "[%x][%X][%lx][%llx][%o][%lo]\n",
            &[i(-1), i(255), i(-1), i(255), i(8), i(-1)]
        ),
        "[ffffffff][FF][ffffffffffffffff][ff][10][1777777777777777777777]\n"
    );
    // printf("[%p][%s][%hhd][%hd][%hu][%hhu][%hhx]\n", 4096, ksym(<tcp_v4_rcv+5>), 257, 65537, -1, -1, -1)
    let ksym = (Type::Ksym, int(0xffffffff820938b5u64 as i64));
    let args = [i(4096), ksym, i(257), i(65537), i(-1), i(-1), i(-1)];
    assert_eq!(
        render("[%p][%s][%hhd][%hd][%hu][%hhu][%hhx]\n", &args),
        "[0x1000][tcp_v4_rcv][1][1][65535][255][ff]\n"
    );
}

#[test]
fn widths_flags_and_precision() {
    // printf("[%-8s|][%8s|][%08x]\n", "ab", "ab", 255)
    assert_eq!(
        render("[%-8s|][%8s|][%08x]\n", &[s("ab"), s("ab"), i(255)]),
        "[ab      |][      ab|][000000ff]\n"
    );
    // printf("[%-5d|][%05d][%-05d|]\n", 5, -5, 3)
    assert_eq!(
        render("[%-5d|][%05d][%-05d|]\n", &[i(5), i(-5), i(3)]),
        "[5    |][-0005][3    |]\n"
    );
    // printf("[%5s][%-3d][%3d]\n", "abcdefg", 12345, -7)
    assert_eq!(
        render("[%5s][%-3d][%3d]\n", &[s("abcdefg"), i(12345), i(-7)]),
        "[abcdefg][12345][ -7]\n"
    );
    // printf("%5.2s|", "hello")
    assert_eq!(render("%5.2s|", &[s("hello")]), "   he|");
    // printf("[%p][%05s][%20p][%-4c|][%05x][%.3d][%10.4x][%.0d]\n", 0, "ab", 4096, 65, 255, 7, 255, 0)
    let args = [i(0), s("ab"), i(4096), i(65), i(255), i(7), i(255), i(0)];
    assert_eq!(
        render("[%p][%05s][%20p][%-4c|][%05x][%.3d][%10.4x][%.0d]\n", &args),
        "[(nil)][   ab][              0x1000][A   |][000ff][007][      00ff][]\n"
    );
    // glibc: printf '[%+d][% d][%#x][%#o]\n' 5 5 255 8 (0.17 did not parse these flags)
    assert_eq!(
        render("[%+d][% d][%#x][%#o]\n", &[i(5), i(5), i(255), i(8)]),
        "[+5][ 5][0xff][010]\n"
    );
}

#[test]
fn narrow_types_and_chars() {
    // printf("[%10d][%-10x|][%016lx][%d][%x][%s]\n", 42, 255, -2, (uint8)200, (int8)-3, "a\tb")
    let args = [
        i(42),
        i(255),
        i(-2),
        (Type::int(8, false), int(200)),
        (Type::int(8, true), int(-3)),
        s("a\tb"),
    ];
    assert_eq!(
        render("[%10d][%-10x|][%016lx][%d][%x][%s]\n", &args),
        "[        42][ff        |][fffffffffffffffe][200][fffffffd][a\tb]\n"
    );
    // printf("[%c][%c]\n", 65, 0x263a)
    assert_eq!(render("[%c][%c]\n", &[i(65), i(0x263a)]), "[A][:]\n");
}

#[test]
fn percent_signs() {
    // printf("a%%b %d\n", 7)
    assert_eq!(render("a%%b %d\n", &[i(7)]), "a%b 7\n");
    // 0.17 printed "100%%" here (its trailing-text quirk); C prints one %.
    assert_eq!(render("100%%\n", &[]), "100%\n");
}

#[test]
fn s_prints_any_printable_value() {
    let tuple_type = Type::Tuple(vec![Type::I64, Type::Str { len: 4 }]);
    let tuple_value = tuple(&[(Type::I64, int(1)), (Type::Str { len: 4 }, string("x", 4))]);
    let args = [
        i(-12),
        (Type::U64, int(-1)),
        (Type::Probe, int(1)),
        (tuple_type, tuple_value),
    ];
    assert_eq!(
        render("%s %s %s %s", &args),
        "-12 18446744073709551615 tracepoint:syscalls:sys_enter_read (1, x)"
    );
    assert_eq!(render("%i|%-6i|", &[i(-3), i(4)]), "-3|4     |");
}

#[test]
fn the_checker_gets_bpftrace_messages() {
    let f = parse_format("[%u][%llu]\n").unwrap();
    assert_eq!(
        f.check_args(&[Type::I64, Type::I64, Type::I64])
            .unwrap_err(),
        "Too many arguments for format string (3 supplied, 2 expected)"
    );
    let f = parse_format("%s %d").unwrap();
    assert!(f.check_args(&[Type::I64, Type::Ksym]).is_ok());
    assert_eq!(
        f.check_args(&[Type::I64, Type::Str { len: 4 }])
            .unwrap_err(),
        "%d specifier expects a value of type integer (string supplied)"
    );
    let conv = f.conversions().nth(1).unwrap();
    assert!(conv.accepts(&Type::U32) && !conv.accepts(&Type::Tuple(vec![])));
    assert_eq!(
        parse_format("%y").unwrap_err(),
        "unknown conversion '%y' in format string"
    );
}
