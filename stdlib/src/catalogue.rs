//! The catalogue of builtin variables and functions: what exists, how many
//! arguments each takes and where it may be used. The checker consults it for
//! "unknown builtin" and arity errors; the types and code of each entry live with
//! the checker and lowering.

/// Where an entry may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowed {
    /// In kernel probes and user-space blocks alike.
    Anywhere,
    /// Only in kernel probes (needs a probe context).
    KernelOnly,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Variable,
    Function,
    /// Only as `@map = f(...)`.
    Aggregation,
}

#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub name: &'static str,
    pub kind: Kind,
    pub min_args: usize,
    pub max_args: usize,
    pub allowed: Allowed,
    pub doc: &'static str,
}

const fn var(name: &'static str, allowed: Allowed, doc: &'static str) -> Entry {
    Entry {
        name,
        kind: Kind::Variable,
        min_args: 0,
        max_args: 0,
        allowed,
        doc,
    }
}

const fn func(name: &'static str, min: usize, max: usize, doc: &'static str) -> Entry {
    Entry {
        name,
        kind: Kind::Function,
        min_args: min,
        max_args: max,
        allowed: Allowed::Anywhere,
        doc,
    }
}

const fn kernel_func(name: &'static str, min: usize, max: usize, doc: &'static str) -> Entry {
    Entry {
        allowed: KernelOnly,
        ..func(name, min, max, doc)
    }
}

const fn agg(name: &'static str, min: usize, max: usize, doc: &'static str) -> Entry {
    Entry {
        name,
        kind: Kind::Aggregation,
        min_args: min,
        max_args: max,
        allowed: Allowed::Anywhere,
        doc,
    }
}

use Allowed::*;

pub const ENTRIES: &[Entry] = &[
    var("pid", Anywhere, "process id"),
    var("tid", Anywhere, "thread id"),
    var("uid", Anywhere, "user id"),
    var("gid", Anywhere, "group id"),
    var("nsecs", Anywhere, "monotonic timestamp in nanoseconds"),
    var("elapsed", Anywhere, "nanoseconds since rtrace started"),
    var("cpu", Anywhere, "current CPU"),
    var("numaid", Anywhere, "NUMA node of the current CPU"),
    var("comm", Anywhere, "current command name"),
    var("probe", Anywhere, "full name of the probe"),
    var("rand", Anywhere, "random 32-bit number"),
    var("cgroup", Anywhere, "cgroup v2 id of the current task"),
    var("curtask", Anywhere, "address of the current task_struct"),
    var("args", KernelOnly, "tracepoint arguments (args->field)"),
    var("retval", KernelOnly, "return value (kretprobe)"),
    var("func", KernelOnly, "name of the probed function"),
    var("kstack", KernelOnly, "kernel stack; kstack(mode, limit)"),
    var("ustack", KernelOnly, "user stack; ustack(mode, limit)"),
    func("printf", 1, 64, "formatted output"),
    func("print", 1, 3, "print a map or a value"),
    func("clear", 1, 1, "delete every entry of a map"),
    func("zero", 1, 1, "set every value of a map to zero"),
    func(
        "delete",
        1,
        2,
        "delete one map entry: delete(@m[key]) or delete(@m, key)",
    ),
    func("exit", 0, 1, "end tracing"),
    func("time", 0, 1, "print the current time"),
    func("str", 1, 2, "read a NUL-terminated string"),
    func("ksym", 1, 1, "kernel symbol of an address"),
    func("usym", 1, 1, "user symbol of an address"),
    func("kaddr", 1, 1, "address of a kernel symbol"),
    func("uaddr", 1, 1, "address of a symbol of the probed binary"),
    func("reg", 1, 1, "a saved register: reg(\"ip\")"),
    agg("count", 0, 0, "count events"),
    agg("sum", 1, 1, "sum of values"),
    agg("avg", 1, 1, "average of values"),
    agg("min", 1, 1, "minimum value"),
    agg("max", 1, 1, "maximum value"),
    agg("stats", 1, 1, "count, average and total"),
    agg("hist", 1, 1, "power-of-two histogram"),
    agg("lhist", 4, 4, "linear histogram (value, min, max, step)"),
    func("has_key", 2, 2, "whether a map has an entry for a key"),
    func("len", 1, 1, "number of entries of a map"),
    func("ntop", 1, 2, "IP address as text: ntop([family,] addr)"),
    func("pton", 1, 1, "address bytes of a constant IPv4/IPv6 string"),
    func("ntohs", 1, 1, "16-bit network to host byte order"),
    func("ntohl", 1, 1, "32-bit network to host byte order"),
    func("htons", 1, 1, "16-bit host to network byte order"),
    func("htonl", 1, 1, "32-bit host to network byte order"),
    func(
        "bswap",
        1,
        1,
        "reverse the bytes of an integer (by its width)",
    ),
    func("macaddr", 1, 1, "MAC address of 6 bytes at a pointer"),
    func("cat", 1, 64, "print a file's contents: cat(fmt, ...)"),
    func(
        "system",
        1,
        64,
        "run a shell command (--unsafe): system(fmt, ...)",
    ),
    kernel_func(
        "signal",
        1,
        1,
        "send a signal to the current task (--unsafe)",
    ),
    kernel_func(
        "override",
        1,
        1,
        "override a kprobe's return value (--unsafe)",
    ),
    func(
        "strftime",
        2,
        2,
        "format nanoseconds as local time: strftime(fmt, ns)",
    ),
    func("cgroupid", 1, 1, "cgroup v2 id of a constant cgroup path"),
    kernel_func("path", 1, 2, "full path of a struct path * (fentry only)"),
    kernel_func("debugf", 1, 4, "bpf_trace_printk to the trace pipe"),
    func("unwatch", 1, 1, "remove a watchpoint (not supported)"),
    func(
        "strncmp",
        3,
        3,
        "compare n characters of two strings (0: equal)",
    ),
    func(
        "join",
        1,
        2,
        "print a NULL-terminated string array on one line",
    ),
    func("buf", 2, 2, "n bytes of memory, printed with %r"),
    func("strcontains", 2, 2, "1 if a string contains another"),
    func(
        "ksymoff",
        1,
        1,
        "kernel symbol+offset/size [module] of an address",
    ),
    func(
        "syscall_name",
        1,
        1,
        "x86-64 syscall name of a syscall number",
    ),
];

/// Look an entry up by name (`arg0`..`arg9` are variables handled by the checker).
pub fn lookup(name: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.name == name)
}

/// The closest known name, for "did you mean" hints (edit distance ≤ 2).
pub fn suggest(name: &str, kind: Kind) -> Option<&'static str> {
    ENTRIES
        .iter()
        .filter(|e| e.kind == kind || (kind == Kind::Function && e.kind == Kind::Aggregation))
        .map(|e| {
            (
                edit_distance(name, e.name),
                e.name.len().abs_diff(name.len()),
                e.name,
            )
        })
        .filter(|(d, _, _)| *d <= 2)
        .min()
        .map(|(_, _, n)| n)
}

/// Edit distance where swapping two neighbours counts as one edit (`prinft`).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("prinft", Kind::Function), Some("printf"));
        assert_eq!(suggest("pirnt", Kind::Function), Some("print"));
        assert_eq!(suggest("cuont", Kind::Function), Some("count"));
        // `cat` is one edit from `cnt`, `count` two.
        assert_eq!(suggest("cnt", Kind::Function), Some("cat"));
        assert_eq!(suggest("zzzzzz", Kind::Function), None);
        assert_eq!(lookup("hist").unwrap().kind, Kind::Aggregation);
    }
}
