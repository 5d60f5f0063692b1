//! The stack's CloudWatch Logs log groups, each with the spec's retention. The stack makes a
//! group before anything writes to it, so it carries the stack's tags and retention (a group
//! AWS makes on the first write has neither, and keeps its events forever).

use super::Part;
use crate::model::{Kind, LogGroupProps, Props, Ref};
use crate::spec::Spec;

/// Adds log group `log-group/<key>` named `name`; a reference to it.
pub(super) fn log_group(out: &mut Part, spec: &Spec, key: &str, name: String) -> Ref {
    out.add(
        Kind::LogGroup,
        key,
        Props::LogGroup(LogGroupProps {
            name,
            retention_days: Some(spec.logs.retention_days),
        }),
    );
    Ref::to(Kind::LogGroup, key)
}
