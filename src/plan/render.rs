//! The human form of a plan: grouped by resource, only changed fields, replacements and data
//! loss marked, counts at the end. Styled with ANSI codes that `anstream` strips when the
//! output is not a terminal or `NO_COLOR` is set.

use super::{Action, Applies, Change, Plan};
use anstyle::{AnsiColor, Style};
use serde_json::Value;
use std::fmt::Write;

const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const RED: Style = AnsiColor::Red.on_default();
const BOLD_RED: Style = AnsiColor::Red.on_default().bold();
const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

/// The upgrade workflow: from, to, each step with what it waits for, and the window.
fn render_upgrade(out: &mut String, up: &crate::upgrade::plan::Upgrade) {
    let _ = writeln!(
        out,
        "\n{YELLOW}~ upgrade{YELLOW:#} Moodle {} → {} ({}; commit {} → {}){}, after the changes above:",
        up.from.release,
        up.to.release,
        if up.major {
            "new branch"
        } else {
            "same branch"
        },
        up.from.commit.get(..12).unwrap_or(&up.from.commit),
        up.to.commit.get(..12).unwrap_or(&up.to.commit),
        if up.resumes {
            format!(", {BOLD}resuming {}{BOLD:#}", up.id)
        } else {
            String::new()
        }
    );
    for (i, step) in up.steps.iter().enumerate() {
        let expected = step
            .expected_seconds
            .map(|s| format!(" (~{})", duration(s)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    {}. {}{expected}: {DIM}{}{DIM:#}",
            i + 1,
            step.name,
            step.waits_for
        );
    }
    if !up.in_window.is_empty() {
        let _ = writeln!(
            out,
            "    Inside the window, before upgrade.php (cron paused, the snapshot taken), the cron instance that runs it is replaced:"
        );
        let mut inner = String::new();
        for change in &up.in_window {
            render_change(&mut inner, change);
        }
        for line in inner.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    let _ = writeln!(
        out,
        "    Maintenance window: about {} (steps 3–8): users see Moodle's maintenance page; no web node boots inside it. A failure leaves the site in maintenance; `moodle-ha rollback` restores the snapshot of step 5.",
        duration(up.window_seconds)
    );
}

fn duration(s: u64) -> String {
    match (s / 60, s % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// The plan as text for people.
pub fn render_plan(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.is_empty() {
        let _ = writeln!(
            out,
            "No changes: stack `{}` matches the spec ({} resources).",
            plan.stack,
            plan.unchanged.len()
        );
        return out;
    }
    let _ = writeln!(out, "{BOLD}Plan for stack `{}`:{BOLD:#}", plan.stack);
    for change in &plan.changes {
        render_change(&mut out, change);
    }
    if let Some(up) = &plan.upgrade {
        render_upgrade(&mut out, up);
    }
    let s = plan.summary();
    let _ = writeln!(
        out,
        "\n{BOLD}Plan:{BOLD:#} {} to add, {} to change, {} to replace, {} to destroy ({} unchanged){}.",
        s.create,
        s.update,
        s.replace,
        s.delete,
        s.unchanged,
        if plan.upgrade.is_some() {
            ", then the upgrade"
        } else {
            ""
        }
    );
    let loss = plan.data_loss();
    if !loss.is_empty() {
        let keys: Vec<String> = loss.iter().map(|c| c.key.to_string()).collect();
        let _ = writeln!(
            out,
            "{BOLD_RED}Data loss:{BOLD_RED:#} {} would be destroyed with its data.",
            keys.join(", ")
        );
    }
    out
}

fn render_change(out: &mut String, change: &Change) {
    let (symbol, word, style) = match change.action {
        Action::Create => ("+", "create", GREEN),
        Action::Update => ("~", "update", YELLOW),
        Action::Replace => ("-/+", "replace", BOLD_RED),
        Action::Delete => ("-", "delete", RED),
        Action::NoOp => (" ", "no-op", DIM),
    };
    let id = change
        .id
        .as_deref()
        .map(|id| format!(" ({id})"))
        .unwrap_or_default();
    let _ = write!(
        out,
        "\n  {style}{symbol} {word:<7} {}{style:#}{id}",
        change.key
    );
    if change.destroys_data {
        let _ = write!(out, "  {BOLD_RED}DESTROYS DATA{BOLD_RED:#}");
    }
    if let Some(reason) = &change.reason {
        let _ = write!(out, "  {DIM}# {reason}{DIM:#}");
    }
    out.push('\n');
    if let Some(snapshot) = &change.final_snapshot {
        let _ = writeln!(out, "      {BOLD}final snapshot: {snapshot}{BOLD:#}");
    } else if change.destroys_data
        && change.key.kind != crate::model::Kind::Bucket
        && matches!(change.action, Action::Delete | Action::Replace)
    {
        let _ = writeln!(out, "      {BOLD_RED}no final snapshot{BOLD_RED:#}");
    }
    for f in &change.fields {
        let mark = if f.forces_replacement && change.action == Action::Replace {
            format!("  {BOLD_RED}# forces replacement{BOLD_RED:#}")
        } else {
            match &f.applies {
                None => String::new(),
                Some(Applies::Now) => format!("  {DIM}# applies now{DIM:#}"),
                Some(Applies::MaintenanceWindow { window }) => {
                    format!("  {DIM}# in the maintenance window ({window}){DIM:#}")
                }
                Some(Applies::InstanceRefresh {
                    min_healthy_percent,
                }) => format!(
                    "  {YELLOW}# rolls the fleet (instance refresh, {min_healthy_percent}% kept in service){YELLOW:#}"
                ),
                Some(Applies::UpgradeSwitch) => format!(
                    "  {YELLOW}# new nodes at once; the upgrade's fleet switch replaces the others{YELLOW:#}"
                ),
                Some(Applies::NextReboot) => {
                    format!(
                        "  {YELLOW}# takes effect at the next reboot (moodle-ha never reboots){YELLOW:#}"
                    )
                }
            }
        };
        match change.action {
            Action::Create => {
                let _ = writeln!(out, "      {}: {}", f.field, show(&f.after));
            }
            Action::Delete => {
                let _ = writeln!(out, "      {DIM}{}: {}{DIM:#}", f.field, show(&f.before));
            }
            _ => match (&f.before, &f.after) {
                (Value::Array(before), Value::Array(after))
                    if before.iter().all(|i| after.contains(i))
                        && after.iter().all(|i| before.contains(i)) =>
                {
                    // Same items, another order: a sequence (priority order) was reordered.
                    let _ = writeln!(
                        out,
                        "      {}: {} → {}  {DIM}# order changed{DIM:#}{mark}",
                        f.field,
                        show(&f.before),
                        show(&f.after)
                    );
                }
                (Value::Array(before), Value::Array(after)) => {
                    let _ = writeln!(out, "      {}:{mark}", f.field);
                    for item in before.iter().filter(|i| !after.contains(i)) {
                        let _ = writeln!(out, "        {RED}- {}{RED:#}", show(item));
                    }
                    for item in after.iter().filter(|i| !before.contains(i)) {
                        let _ = writeln!(out, "        {GREEN}+ {}{GREEN:#}", show(item));
                    }
                }
                (before, after) => {
                    let _ = writeln!(
                        out,
                        "      {}: {} → {}{mark}",
                        f.field,
                        show(before),
                        show(after)
                    );
                }
            },
        }
    }
}

/// Compact display of an attribute value: references as their key, strings unquoted.
pub fn show(value: &Value) -> String {
    match value {
        Value::Null => "(none)".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => {
            if let (1, Some(Value::String(r))) = (map.len(), map.get("ref")) {
                return r.clone();
            }
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}: {}", show(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => other.to_string(),
    }
}
