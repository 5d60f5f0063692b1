//! The `moodle` section: branch, code, wwwroot, paths, web server and PHP settings.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A supported Moodle branch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MoodleVersion {
    /// 4.5 LTS (the default).
    #[default]
    #[serde(rename = "4.5")]
    V4_5,
    /// 5.0.
    #[serde(rename = "5.0")]
    V5_0,
    /// 5.1 (serves from the code's `public/` directory).
    #[serde(rename = "5.1")]
    V5_1,
}

impl MoodleVersion {
    /// True for the 5.x branches, which need MySQL 8.4 and PHP 8.2.
    pub fn is_5x(self) -> bool {
        !matches!(self, MoodleVersion::V4_5)
    }
}

/// Web server on the nodes (each with PHP-FPM).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebServer {
    /// nginx with PHP-FPM.
    #[default]
    Nginx,
    /// Apache httpd with PHP-FPM.
    Apache,
}

/// Moodle itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Moodle {
    /// Branch.
    #[serde(default)]
    pub version: MoodleVersion,
    /// The site's address, `https://host[/path]`, without a trailing slash.
    pub wwwroot: String,
    /// Git repository of the code.
    #[serde(default = "default_git_url")]
    pub git_url: String,
    /// Branch, tag or commit to deploy.
    pub git_ref: String,
    /// Web server.
    #[serde(default)]
    pub web_server: WebServer,
    /// Code root on every node (local disk).
    #[serde(default = "default_code_path")]
    pub code_path: String,
    /// moodledata on the EFS mount.
    #[serde(default = "default_dataroot")]
    pub dataroot: String,
    /// Site full name used by the installer.
    #[serde(default = "default_site_name")]
    pub site_name: String,
    /// Admin e-mail used by the installer.
    pub admin_email: String,
    /// php.ini settings.
    #[serde(default)]
    pub php: PhpSettings,
}

/// php.ini settings rendered on every node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhpSettings {
    /// `memory_limit`.
    #[serde(default = "default_memory")]
    pub memory_limit: String,
    /// `upload_max_filesize`.
    #[serde(default = "default_upload")]
    pub upload_max_filesize: String,
    /// `post_max_size`.
    #[serde(default = "default_upload")]
    pub post_max_size: String,
    /// `max_input_vars`, at least 5000 (Moodle 5.x refuses to install below it).
    #[serde(default = "default_max_input_vars")]
    pub max_input_vars: u32,
}

impl Default for PhpSettings {
    fn default() -> Self {
        Self {
            memory_limit: default_memory(),
            upload_max_filesize: default_upload(),
            post_max_size: default_upload(),
            max_input_vars: default_max_input_vars(),
        }
    }
}

fn default_git_url() -> String {
    "https://github.com/moodle/moodle.git".into()
}
fn default_code_path() -> String {
    "/var/www/moodle".into()
}
fn default_dataroot() -> String {
    "/var/www/moodledata".into()
}
fn default_site_name() -> String {
    "Moodle".into()
}
fn default_memory() -> String {
    "512M".into()
}
fn default_upload() -> String {
    "1G".into()
}
fn default_max_input_vars() -> u32 {
    5000
}
