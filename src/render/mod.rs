//! Rendered files: cloud-init user data for the web nodes and the cron instance, Moodle's
//! `config.php` and the web server's site config, from the templates in `userdata/`. Pure
//! functions of the spec (and, for config.php, of the outputs known so far); no secret is
//! ever an input.
//!
//! The user data never holds another resource's outputs: a node looks the database, Redis
//! and EFS up by their deterministic names at boot and fills config.php's
//! `<known after apply: …>` values itself. So the user data, and with it the launch template,
//! is known at plan time and does not change when an endpoint does.

mod encode;
mod site;

pub use encode::{MAX_USER_DATA, decode_user_data, encode_user_data};
pub use site::{DB_GRANTS, EFS_UTILS_REF, RDS_CA_URL, READY_HOOK, SECRETS_FILE, Site};

use crate::spec::{Spec, WebServer};
use minijinja::{Environment, context};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The Spot interruption watcher installed on every web node.
pub const SPOT_WATCHER: &str = include_str!("../../userdata/spot-watcher.sh");
/// First-boot script of every node.
pub const BOOTSTRAP: &str = include_str!("../../userdata/bootstrap.sh");
/// The cron instance's install, upgrade and cache set-up.
pub const INSTALL_SITE: &str = include_str!("../../userdata/install-site.sh");
/// Functions the boot scripts and the agent share (release unpack and switch, config.php, the
/// caches on Redis, the ready marker), sourced from `/usr/local/lib/moodle-ha/node-lib.sh`.
pub const NODE_LIB: &str = include_str!("../../userdata/node-lib.sh");
/// The cron instance's agent: runs the CLI's requests (maintenance, cron pause, upgrade …)
/// exactly once.
pub const AGENT: &str = include_str!("../../userdata/agent.sh");
/// A web node's own boot steps (the site enabled, the wait for its release, the launch hook),
/// sourced by the bootstrap from `/usr/local/lib/moodle-ha/web-node.sh` on web nodes only.
pub const WEB_NODE: &str = include_str!("../../userdata/web-node.sh");
/// Creates Moodle's database user (run by the cron instance).
pub const DB_SETUP: &str = include_str!("../../userdata/db-setup.php");
/// Puts the Moodle caches on Redis (run by the cron instance).
pub const MUC_REDIS: &str = include_str!("../../userdata/muc-redis.php");

const NODE_USER_DATA: &str = include_str!("../../userdata/node-user-data.yaml.j2");
const CONFIG_PHP: &str = include_str!("../../userdata/config.php.j2");
const NGINX_SITE: &str = include_str!("../../userdata/nginx-site.conf.j2");
const APACHE_SITE: &str = include_str!("../../userdata/apache-site.conf.j2");

/// The first-line marker of every user data moodle-ha renders: `# moodle-ha user-data: …`.
const MARKER: &str = "# moodle-ha user-data: ";

/// Rendering failed: a template error (a bug, never bad input) or user data too large.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A template did not render.
    #[error("rendering {template}: {source}")]
    Template {
        /// The template's path.
        template: &'static str,
        /// minijinja's error.
        source: minijinja::Error,
    },
    /// The user data is over EC2's limit even compressed.
    #[error("the {what} user data is {size} bytes compressed, over EC2's {MAX_USER_DATA}")]
    TooLarge {
        /// Which user data.
        what: &'static str,
        /// Its compressed size.
        size: usize,
    },
}

/// Values from other resources that config.php holds; `None` until the resource exists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outputs {
    /// The database writer endpoint.
    pub database_endpoint: Option<String>,
    /// The Redis replication group's primary endpoint.
    pub cache_primary_endpoint: Option<String>,
}

impl Outputs {
    /// The outputs found in AWS, from the observed state's output map.
    pub fn from_map(outputs: &BTreeMap<String, String>) -> Outputs {
        let get = |name: &str| outputs.get(name).filter(|v| !v.is_empty()).cloned();
        Outputs {
            database_endpoint: get("database.endpoint"),
            cache_primary_endpoint: get("cache.primary_endpoint"),
        }
    }

    /// The names of the values still unknown.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.database_endpoint.is_none() {
            out.push("database.endpoint");
        }
        if self.cache_primary_endpoint.is_none() {
            out.push("cache.primary_endpoint");
        }
        out
    }
}

/// The marked placeholder for an output not known yet, e.g.
/// `<known after apply: database.endpoint>`; the node replaces it at boot.
pub fn known_after_apply(name: &str) -> String {
    format!("<known after apply: {name}>")
}

/// A PHP single-quoted string's content.
fn php_quote(value: String) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

/// A shell word in single quotes.
fn sh_quote(value: String) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    env.add_filter("php", php_quote);
    env.add_filter("sh", sh_quote);
    env
}

fn render(name: &'static str, source: &str, ctx: minijinja::Value) -> Result<String, RenderError> {
    environment()
        .render_str(source, ctx)
        .map_err(|source| RenderError::Template {
            template: name,
            source,
        })
}

/// Moodle's `config.php`: outputs not known yet are marked placeholders.
pub fn config_php(spec: &Spec, outputs: &Outputs) -> Result<String, RenderError> {
    let value =
        |v: &Option<String>, name: &str| v.clone().unwrap_or_else(|| known_after_apply(name));
    render(
        "userdata/config.php.j2",
        CONFIG_PHP,
        context! {
            s => Site::new(spec),
            db_host => value(&outputs.database_endpoint, "database.endpoint"),
            redis_host => value(&outputs.cache_primary_endpoint, "cache.primary_endpoint"),
        },
    )
}

/// The web server's site config and its file name (`nginx-site.conf` or `apache-site.conf`).
pub fn site_config(spec: &Spec) -> Result<(&'static str, String), RenderError> {
    let s = Site::new(spec);
    match spec.moodle.web_server {
        WebServer::Nginx => Ok((
            "nginx-site.conf",
            render("userdata/nginx-site.conf.j2", NGINX_SITE, context! { s })?,
        )),
        WebServer::Apache => Ok((
            "apache-site.conf",
            render("userdata/apache-site.conf.j2", APACHE_SITE, context! { s })?,
        )),
    }
}

fn node_user_data(spec: &Spec, web: bool) -> Result<String, RenderError> {
    let trim = |s: &str| s.trim_end().to_string();
    let config = config_php(spec, &Outputs::default())?;
    let (_, site) = site_config(spec)?;
    let text = render(
        "userdata/node-user-data.yaml.j2",
        NODE_USER_DATA,
        context! {
            s => Site::new(spec),
            web,
            role => if web { "web" } else { "cron" },
            role_label => if web { "web node" } else { "cron instance" },
            config_php => trim(&config),
            site_config => trim(&site),
            bootstrap => trim(BOOTSTRAP),
            node_lib => trim(NODE_LIB),
            agent => trim(AGENT),
            web_node => trim(WEB_NODE),
            spot_watcher => trim(SPOT_WATCHER),
            install_site => trim(INSTALL_SITE),
            db_setup => trim(DB_SETUP),
            muc_redis => trim(MUC_REDIS),
        },
    )?;
    let size = encode_user_data(&text).len();
    if size > MAX_USER_DATA {
        return Err(RenderError::TooLarge {
            what: if web { "web node" } else { "cron instance" },
            size,
        });
    }
    Ok(text)
}

/// The web nodes' cloud-init user data: never a cron entry.
pub fn web_user_data(spec: &Spec) -> Result<String, RenderError> {
    node_user_data(spec, true)
}

/// The cron instance's cloud-init user data: the same base, Moodle's one cron entry, and the
/// first-boot install.
pub fn cron_user_data(spec: &Spec) -> Result<String, RenderError> {
    node_user_data(spec, false)
}

/// Every rendered file by name, as `moodle-ha render` writes them: `web-user-data.yaml`,
/// `cron-user-data.yaml`, `config.php` and the site config.
pub fn all_files(spec: &Spec, outputs: &Outputs) -> Result<Vec<(String, String)>, RenderError> {
    let (site_name, site) = site_config(spec)?;
    Ok(vec![
        ("web-user-data.yaml".into(), web_user_data(spec)?),
        ("cron-user-data.yaml".into(), cron_user_data(spec)?),
        ("config.php".into(), config_php(spec, outputs)?),
        (site_name.into(), site),
    ])
}

/// A short, comparable description of user data: what it is (from its marker line) and a
/// hash of the whole text, e.g. `web node, Moodle 4.5, nginx, … sha256:0a1b2c3d4e5f`. The plan
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
