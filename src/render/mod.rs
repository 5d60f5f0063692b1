//! Rendered files: cloud-init user data from the templates in `userdata/`. Pure functions of
//! the spec; no secret is ever an input.

use crate::spec::Spec;
use minijinja::{Environment, context};
use sha2::{Digest, Sha256};

/// The Spot interruption watcher installed on every web node.
pub const SPOT_WATCHER: &str = include_str!("../../userdata/spot-watcher.sh");
const WEB_USER_DATA: &str = include_str!("../../userdata/web-user-data.yaml.j2");
const CRON_USER_DATA: &str = include_str!("../../userdata/cron-user-data.yaml.j2");

/// The first-line marker of every user data moodle-ha renders: `# moodle-ha user-data: …`.
const MARKER: &str = "# moodle-ha user-data: ";

/// Rendering failed (a template error: a bug, never bad input).
#[derive(Debug, thiserror::Error)]
#[error("rendering {template}: {source}")]
pub struct RenderError {
    template: &'static str,
    source: minijinja::Error,
}

fn render(name: &'static str, source: &str, ctx: minijinja::Value) -> Result<String, RenderError> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    env.render_str(source, ctx).map_err(|source| RenderError {
        template: name,
        source,
    })
}

/// The web nodes' cloud-init user data.
pub fn web_user_data(spec: &Spec) -> Result<String, RenderError> {
    render(
        "userdata/web-user-data.yaml.j2",
        WEB_USER_DATA,
        context! { stack => spec.name, spot_watcher => SPOT_WATCHER.trim_end() },
    )
}

/// The cron instance's cloud-init user data.
pub fn cron_user_data(spec: &Spec) -> Result<String, RenderError> {
    render(
        "userdata/cron-user-data.yaml.j2",
        CRON_USER_DATA,
        context! {
            stack => spec.name,
            web_user => "www-data",
            code_path => spec.moodle.code_path.trim_end_matches('/'),
        },
    )
}

/// A short, comparable description of user data: what it is (from its marker line) and a
/// hash of the whole text, e.g. `web node, placeholder (…) sha256:0a1b2c3d4e5f`. The plan
/// shows this instead of the text; the same function reads it back from AWS.
pub fn describe_user_data(text: &str) -> String {
    let label = text
        .lines()
        .find_map(|l| l.strip_prefix(MARKER))
        .unwrap_or("not rendered by moodle-ha");
    let hash: String = Sha256::digest(text.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{label} sha256:{hash}")
}

#[cfg(test)]
mod tests;
