//! Many uprobe sites of one block as one program on one `uprobe_multi` link.
//!
//! A uprobe wildcard or a USDT probe with several sites expands to one probe
//! per site, each with its own program (`func`, `probe` and the USDT argument
//! locations are baked into it). Attached one perf event per site, detaching
//! costs about 110 ms per site in the kernel; one `BPF_LINK_CREATE` of type
//! `BPF_TRACE_UPROBE_MULTI` attaches and detaches all sites of a binary at once.
//! The link gives each site a cookie; the merged program reads it with
//! `bpf_get_attach_cookie` and runs that site's body: the cookie holds the
//! site's probe id (high 32 bits) and body class (low 32 bits). Sites whose
//! bodies are equal once `probe` is a variable share one class.

mod rebase;

use crate::check::texpr;
use crate::ir::{BinOp, Builtin, Cond};
use crate::probes::Target;
use crate::typed::{LValue, TExpr, TExprKind, TStmt, TypedProbe, TypedProgram, VarId};
use rebase::Rebase;
use rtrace_stdlib::types::Type;

/// A block merges the sites it has on one binary when there are at least this many.
pub const MIN_SITES: usize = 2;

/// Fixed variables of a merged program; the bodies' own follow.
const COOKIE_VAR: VarId = 0;
const PROBE_VAR: VarId = 1;
const CLASS_VAR: VarId = 2;
const FIXED_VARS: [Type; 3] = [Type::U64, Type::Probe, Type::U64];

/// Below this many classes a chain of equality tests is as short as a split.
const LINEAR_CLASSES: u32 = 3;

/// One site of a multi-site uprobe link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UprobeSite {
    /// File offset of the probed instruction.
    pub offset: u64,
    /// File offset of the USDT semaphore (0: none); the kernel counts it.
    pub ref_ctr_offset: u64,
    /// What `bpf_get_attach_cookie` returns at this site.
    pub cookie: u64,
}

/// Everything one `uprobe_multi` link needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UprobeSites {
    pub path: String,
    /// uretprobe (`BPF_F_UPROBE_MULTI_RETURN`).
    pub ret: bool,
    pub pid: Option<i32>,
    pub sites: Vec<UprobeSite>,
}

/// One program standing for several site probes of a block.
#[derive(Clone, Debug)]
pub struct MultiProbe {
    /// Runs on the first member's target; its body dispatches on the cookie.
    pub probe: TypedProbe,
    /// Indexes into `TypedProgram::probes` of the probes it replaces.
    pub members: Vec<usize>,
    pub sites: UprobeSites,
}

/// What sites must share to be on one link: block, binary, direction, pid, and
/// whether they are USDT sites (their bodies read arguments differently).
#[derive(Clone, Debug, PartialEq, Eq)]
struct GroupKey {
    block: usize,
    path: String,
    ret: bool,
    pid: Option<i32>,
    usdt: bool,
}

/// A site target: its group key, file offset and semaphore offset.
fn site_of(block: usize, target: &Target) -> Option<(GroupKey, u64, u64)> {
    match target {
        Target::Uprobe {
            path,
            offset,
            ret,
            pid,
            ..
        } => Some((
            GroupKey {
                block,
                path: path.clone(),
                ret: *ret,
                pid: *pid,
                usdt: false,
            },
            *offset,
            0,
        )),
        Target::Usdt {
            path,
            offset,
            semaphore,
            pid,
            ..
        } => Some((
            GroupKey {
                block,
                path: path.clone(),
                ret: false,
                pid: *pid,
                usdt: true,
            },
            *offset,
            *semaphore,
        )),
        _ => None,
    }
}

/// A site probe: (probe index, file offset, semaphore offset).
type Member = (usize, u64, u64);

/// The multi-site programs for `program`: one per block and binary with at
/// least [`MIN_SITES`] sites.
pub fn merge(program: &TypedProgram) -> Vec<MultiProbe> {
    let mut groups: Vec<(GroupKey, Vec<Member>)> = Vec::new();
    for (i, p) in program.probes.iter().enumerate() {
        let Some((key, offset, semaphore)) = site_of(p.block, &p.target) else {
            continue;
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push((i, offset, semaphore)),
            None => groups.push((key, vec![(i, offset, semaphore)])),
        }
    }
    groups
        .into_iter()
        .filter(|(_, members)| members.len() >= MIN_SITES)
        .map(|(key, members)| merged_probe(program, key, &members))
        .collect()
}

/// A body moved to `base`: (predicate, statements).
type Body = (Option<TExpr>, Vec<TStmt>);

fn rebased(probe: &TypedProbe, var_base: VarId) -> Body {
    let rb = Rebase {
        probe_var: PROBE_VAR,
        var_base,
    };
    let mut predicate = probe.predicate.clone();
    if let Some(p) = predicate.as_mut() {
        rb.expr(p);
    }
    let mut body = probe.body.clone();
    rb.stmts(&mut body);
    (predicate, body)
}

fn merged_probe(
    program: &TypedProgram,
    key: GroupKey,
    members: &[(usize, u64, u64)],
) -> MultiProbe {
    let indexes: Vec<usize> = members.iter().map(|m| m.0).collect();
    let (probe, cookies) = merge_bodies(program, &indexes);
    let sites = members
        .iter()
        .zip(cookies)
        .map(|(&(_, offset, ref_ctr_offset), cookie)| UprobeSite {
            offset,
            ref_ctr_offset,
            cookie,
        })
        .collect();
    MultiProbe {
        probe,
        members: indexes,
        sites: UprobeSites {
            path: key.path,
            ret: key.ret,
            pid: key.pid,
            sites,
        },
    }
}

/// One probe running the bodies of the probes `indexes` (on the first one's
/// target), dispatching on the attach cookie, and each member's cookie.
pub(crate) fn merge_bodies(program: &TypedProgram, indexes: &[usize]) -> (TypedProbe, Vec<u64>) {
    let mut vars = FIXED_VARS.to_vec();
    // Bodies rebased to a common base, to find equal ones.
    let mut shapes: Vec<(Body, Vec<Type>)> = Vec::new();
    let mut bodies: Vec<Body> = Vec::new();
    let mut cookies = Vec::with_capacity(indexes.len());
    let common_base = FIXED_VARS.len() as VarId;
    for &index in indexes {
        let probe = &program.probes[index];
        let shape = (rebased(probe, common_base), probe.vars.clone());
        let class = match shapes.iter().position(|s| *s == shape) {
            Some(c) => c,
            None => {
                bodies.push(rebased(probe, vars.len() as VarId));
                vars.extend(probe.vars.iter().cloned());
                shapes.push(shape);
                shapes.len() - 1
            }
        };
        cookies.push((u64::from(probe.probe_id) << 32) | (class as u64 + 1));
    }
    let mut body = dispatch_prologue();
    let classes = bodies.len() as u32;
    body.extend(class_tree(
        1,
        classes + 1,
        &mut bodies.into_iter().map(Some).collect::<Vec<_>>(),
    ));
    let first = &program.probes[indexes[0]];
    let probe = TypedProbe {
        target: first.target.clone(),
        probe_id: first.probe_id,
        block: first.block,
        wildcard: indexes.iter().all(|&i| program.probes[i].wildcard),
        vars,
        predicate: None,
        body,
    };
    (probe, cookies)
}

fn int(v: i64) -> TExpr {
    texpr(TExprKind::Int(v), Type::I64, Default::default())
}

fn var(id: VarId, ty: Type) -> TExpr {
    texpr(TExprKind::Var(id), ty, Default::default())
}

fn assign(id: VarId, value: TExpr) -> TStmt {
    TStmt::Assign {
        target: LValue::Var(id),
        value,
    }
}

fn binary(op: BinOp, lhs: TExpr, rhs: i64, ty: Type) -> TExpr {
    let kind = TExprKind::Binary {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(int(rhs)),
    };
    texpr(kind, ty, Default::default())
}

fn cmp(cond: Cond, lhs: TExpr, rhs: i64) -> TExpr {
    let kind = TExprKind::Cmp {
        cond,
        lhs: Box::new(lhs),
        rhs: Box::new(int(rhs)),
    };
    texpr(kind, Type::I64, Default::default())
}

/// `$cookie = attach_cookie; $probe = $cookie >> 32; $class = $cookie & 0xffffffff`.
fn dispatch_prologue() -> Vec<TStmt> {
    let cookie = texpr(
        TExprKind::Builtin(Builtin::AttachCookie),
        Type::U64,
        Default::default(),
    );
    vec![
        assign(COOKIE_VAR, cookie),
        assign(
            PROBE_VAR,
            binary(BinOp::LShr, var(COOKIE_VAR, Type::U64), 32, Type::Probe),
        ),
        assign(
            CLASS_VAR,
            binary(
                BinOp::And,
                var(COOKIE_VAR, Type::U64),
                0xffff_ffff,
                Type::U64,
            ),
        ),
    ]
}

/// Runs body `$class` for classes `lo..hi` (`bodies[c - lo]`): a balanced
/// binary search, so many distinct bodies cost few comparisons.
fn class_tree(lo: u32, hi: u32, bodies: &mut [Option<Body>]) -> Vec<TStmt> {
    let class = || var(CLASS_VAR, Type::U64);
    if hi - lo <= LINEAR_CLASSES {
        let mut els = Vec::new();
        for c in (lo..hi).rev() {
            let (predicate, body) = bodies[(c - lo) as usize].take().expect("each body once");
            let then = match predicate {
                Some(cond) => vec![TStmt::If {
                    cond,
                    then: body,
                    els: Vec::new(),
                }],
                None => body,
            };
            els = vec![TStmt::If {
                cond: cmp(Cond::Eq, class(), c.into()),
                then,
                els,
            }];
        }
        return els;
    }
    let mid = lo + (hi - lo) / 2;
    let (low, high) = bodies.split_at_mut((mid - lo) as usize);
    vec![TStmt::If {
        cond: cmp(Cond::ULt, class(), mid.into()),
        then: class_tree(lo, mid, low),
        els: class_tree(mid, hi, high),
    }]
}
