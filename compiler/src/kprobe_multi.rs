//! The functions of one wildcard `kprobe:`/`kretprobe:` block as one program
//! on one `kprobe_multi` link (Linux 5.18).
//!
//! A wildcard expands to one probe per matching function. Attached one perf
//! kprobe each, every function costs a program load and a slow detach; one
//! `BPF_LINK_CREATE` of type `BPF_TRACE_KPROBE_MULTI` attaches them all at
//! once. The merged program is built as for uprobe sites
//! ([`crate::uprobe_multi::merge_bodies`]): the cookie of each function holds
//! its probe id and body class. `func` reads `bpf_get_func_ip`, so the bodies
//! of a block are all alike and share one class.

use crate::probes::Target;
use crate::typed::{TypedProbe, TypedProgram};

/// A block merges its functions when it has at least this many.
pub const MIN_FUNCTIONS: usize = 2;

/// One function of a `kprobe_multi` link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KprobeSite {
    pub function: String,
    /// What `bpf_get_attach_cookie` returns in this function.
    pub cookie: u64,
}

/// Everything one `kprobe_multi` link needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KprobeSites {
    /// kretprobes (`BPF_F_KPROBE_MULTI_RETURN`).
    pub ret: bool,
    pub sites: Vec<KprobeSite>,
}

/// One program standing for the function probes of a wildcard block.
#[derive(Clone, Debug)]
pub struct MultiKprobe {
    /// Runs on the first member's target; its body dispatches on the cookie.
    pub probe: TypedProbe,
    /// Indexes into `TypedProgram::probes` of the probes it replaces.
    pub members: Vec<usize>,
    pub sites: KprobeSites,
}

/// The function a probe enters or leaves, if it may join a multi link: a
/// wildcard match (at the function's start, never at an offset).
fn function_of(probe: &TypedProbe) -> Option<(&str, bool)> {
    match &probe.target {
        Target::Kprobe {
            function,
            offset: 0,
            ret,
            ..
        } if probe.wildcard => Some((function, *ret)),
        _ => None,
    }
}

/// The multi-function programs of `program`: one per wildcard kprobe or
/// kretprobe block with at least [`MIN_FUNCTIONS`] functions.
pub fn merge(program: &TypedProgram) -> Vec<MultiKprobe> {
    // (block, kretprobe) → member probe indexes, in source order.
    let mut groups: Vec<((usize, bool), Vec<usize>)> = Vec::new();
    for (i, p) in program.probes.iter().enumerate() {
        let Some((_, ret)) = function_of(p) else {
            continue;
        };
        let key = (p.block, ret);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    groups
        .into_iter()
        .filter(|(_, members)| members.len() >= MIN_FUNCTIONS)
        .map(|((_, ret), members)| merged(program, ret, members))
        .collect()
}

fn merged(program: &TypedProgram, ret: bool, members: Vec<usize>) -> MultiKprobe {
    let (probe, cookies) = crate::uprobe_multi::merge_bodies(program, &members);
    let sites = members
        .iter()
        .zip(cookies)
        .map(|(&i, cookie)| KprobeSite {
            function: function_of(&program.probes[i])
                .expect("members are kprobes")
                .0
                .to_string(),
            cookie,
        })
        .collect();
    MultiKprobe {
        probe,
        members,
        sites: KprobeSites { ret, sites },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check, parse};

    fn typed(source: &str) -> TypedProgram {
        let ast = parse::parse(source).expect("parses");
        check::check(&ast, &check::Options::default()).expect("checks")
    }

    fn functions(pattern: &str) -> Vec<String> {
        crate::probes::kernel_functions_matching(pattern)
    }

    #[test]
    fn a_wildcard_block_is_one_program_with_a_cookie_per_function() {
        let expected = functions("tcp_sendmsg*");
        assert!(expected.len() >= 2, "{expected:?}");
        let program = typed("kprobe:tcp_sendmsg* { @[func, probe] = count(); }");
        let merged = merge(&program);
        assert_eq!(merged.len(), 1);
        let m = &merged[0];
        assert!(!m.sites.ret);
        assert_eq!(m.members, (0..expected.len()).collect::<Vec<_>>());
        let names: Vec<&str> = m.sites.sites.iter().map(|s| s.function.as_str()).collect();
        assert_eq!(names, expected);
        for (site, &member) in m.sites.sites.iter().zip(&m.members) {
            let probe = &program.probes[member];
            // Probe id in the high half; `func` reads the helper, so one class.
            assert_eq!(site.cookie, (u64::from(probe.probe_id) << 32) | 1);
            assert_eq!(
                program.probe_names[probe.probe_id as usize],
                format!("kprobe:{}", site.function)
            );
        }
        assert!(m.probe.wildcard);
    }

    #[test]
    fn kprobe_and_kretprobe_blocks_are_separate_links() {
        let n = functions("tcp_sendmsg*").len();
        let program = typed(
            "kprobe:tcp_sendmsg* { @a = count(); } kretprobe:tcp_sendmsg* { @b = sum(retval); }",
        );
        let merged = merge(&program);
        let shape: Vec<(bool, usize)> = merged
            .iter()
            .map(|m| (m.sites.ret, m.sites.sites.len()))
            .collect();
        assert_eq!(shape, [(false, n), (true, n)]);
    }

    #[test]
    fn single_functions_and_offsets_are_not_merged() {
        let program = typed(
            "kprobe:tcp_sendmsg { @a = count(); } kprobe:tcp_sendmsg+5 { @b = count(); }
             kprobe:tcp_sendmsg_locke* { @c = count(); }",
        );
        assert!(merge(&program).is_empty());
    }
}
