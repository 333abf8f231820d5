//! Attach points to concrete targets, before checking: wildcards expanded, and
//! what happens to an attach point that matches nothing.

use super::config_words::{missing_probes, MissingProbes};
use super::Options;
use crate::ast;
use crate::diag::Diagnostic;
use crate::{probes, tracefs};

/// A concrete target and whether it came from a wildcard attach point.
pub(super) struct BlockTarget {
    pub resolved: probes::Resolved,
    pub wildcard: bool,
}

/// Each probe block's expanded targets, in source order.
pub(super) type BlockTargets = Vec<Vec<BlockTarget>>;

/// Every probe block's expanded targets, in source order, and the warnings met.
///
/// An attach point that cannot be resolved is an error, except (a warning) when it is
/// a wildcard and another attach point of the same probe resolved — bpftrace's tools
/// list function variants some kernels lack (`lookup_fast, lookup_fast.constprop.*`) —
/// and, under `--dry-run`, for kernel and user functions this machine lacks.
pub(super) fn resolve_targets(
    program: &ast::Program,
    opts: &Options,
) -> Result<(BlockTargets, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut all = Vec::new();
    let (mut diags, mut warnings) = (Vec::new(), Vec::new());
    let env = probes::Env {
        params: opts.params.clone(),
        pid: opts.pid,
        command: opts.command.clone(),
    };
    let missing = missing_probes(program);
    for probe in &program.probes {
        let mut targets = Vec::new();
        let mut unmatched = Vec::new();
        for ap in &probe.attach_points {
            let wildcard = tracefs::has_wildcard(&ap.text);
            match probes::resolve_in(ap, &env) {
                Ok(r) => targets.extend(
                    r.into_iter()
                        .map(|resolved| BlockTarget { resolved, wildcard }),
                ),
                Err(d) => unmatched.push((ap, wildcard, d)),
            }
        }
        let others_resolved = !targets.is_empty();
        for (ap, wildcard, d) in unmatched {
            if others_resolved {
                // Skipped next to attach points that matched: per `missing_probes`,
                // and by default for wildcards (bpftrace's tools rely on it).
                let note = match (missing, wildcard) {
                    (MissingProbes::Ignore, _) => continue,
                    (MissingProbes::Warn, _) => {
                        Some("skipped (missing_probes): the probe's other attach points matched")
                    }
                    (MissingProbes::Error, true) => {
                        Some("skipped: the probe's other attach points matched")
                    }
                    (MissingProbes::Error, false) => None,
                };
                if let Some(note) = note {
                    warnings.push(d.into_warning().with_note(note));
                    continue;
                }
            }
            match probes::placeholder(ap, &env).filter(|_| opts.dry_run) {
                Some(resolved) => {
                    warnings.push(d.into_warning().with_note(
                        "--dry-run compiles and verifies this probe anyway; it would not attach here",
                    ));
                    targets.push(BlockTarget { resolved, wildcard });
                }
                None => diags.push(d),
            }
        }
        all.push(targets);
    }
    if diags.is_empty() {
        Ok((all, warnings))
    } else {
        Err(diags)
    }
}
