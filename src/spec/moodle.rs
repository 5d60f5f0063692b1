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

    /// The branch as written in a spec, e.g. `4.5`.
    pub fn as_str(self) -> &'static str {
        match self {
            MoodleVersion::V4_5 => "4.5",
            MoodleVersion::V5_0 => "5.0",
            MoodleVersion::V5_1 => "5.1",
        }
    }

    /// The PHP minor versions the branch supports, oldest first (from each branch's
    /// `admin/environment.xml` and the release notes: 4.5 runs 8.1–8.3, 5.0 and 5.1 run 8.2–8.4).
    pub fn php_versions(self) -> &'static [&'static str] {
        match self {
            MoodleVersion::V4_5 => &["8.1", "8.2", "8.3"],
            MoodleVersion::V5_0 | MoodleVersion::V5_1 => &["8.2", "8.3", "8.4"],
        }
    }

    /// True when the web server serves the code's `public/` directory (5.1 and later);
    /// config.php and `admin/cli` stay at the code root on every branch.
    pub fn serves_public_dir(self) -> bool {
        matches!(self, MoodleVersion::V5_1)
    }
}

/// The operating system of the web nodes and the cron instance (the AMI's distribution).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Os {
    /// Ubuntu 24.04 LTS (PHP 8.3 from the archive).
    #[serde(rename = "ubuntu-24.04")]
    Ubuntu2404,
    /// Amazon Linux 2023 (PHP 8.2, 8.3 or 8.4 from the distribution's namespaced packages).
    #[serde(rename = "amazon-linux-2023")]
    AmazonLinux2023,
    /// Debian 12 "bookworm" (PHP 8.2 from the archive); Debian's own AMIs.
    #[serde(rename = "debian-12")]
    Debian12,
}

impl Os {
    /// The name as written in a spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Os::Ubuntu2404 => "ubuntu-24.04",
            Os::AmazonLinux2023 => "amazon-linux-2023",
            Os::Debian12 => "debian-12",
        }
    }

    /// The PHP minor versions the distribution ships, oldest first.
    pub fn php_versions(self) -> &'static [&'static str] {
        match self {
            Os::Ubuntu2404 => &["8.3"],
            Os::AmazonLinux2023 => &["8.2", "8.3", "8.4"],
            Os::Debian12 => &["8.2"],
        }
    }

    /// The distribution an AMI reference names, when it says (SSM public parameters do):
    /// Canonical's `/aws/service/canonical/ubuntu/server/24.04/…`, Amazon's
    /// `/aws/service/ami-amazon-linux-latest/al2023-…`, Debian's
    /// `/aws/service/debian/release/12/latest/amd64` (or `…/release/bookworm/…`), and the
    /// images' own names (`ubuntu-noble-24.04-…`, `al2023-ami-…`, `debian-12-amd64-…`).
    pub fn of_ami(ami: &str) -> Option<Os> {
        let lower = ami.to_ascii_lowercase();
        if lower.contains("ubuntu") && lower.contains("24.04") {
            Some(Os::Ubuntu2404)
        } else if lower.contains("al2023") || lower.contains("amazon-linux-2023") {
            Some(Os::AmazonLinux2023)
        } else if lower.contains("/aws/service/debian/release/12/")
            || lower.contains("/aws/service/debian/release/bookworm/")
            || lower.starts_with("debian-12-")
        {
            Some(Os::Debian12)
        } else {
            None
        }
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
    /// Site short name used by the installer; the stack name when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_short_name: Option<String>,
    /// The database user Moodle connects as (created by the cron instance with only the
    /// privileges Moodle needs; its password is generated into Secrets Manager).
    #[serde(default = "default_db_user")]
    pub db_user: String,
    /// Table prefix.
    #[serde(default = "default_prefix")]
    pub db_prefix: String,
    /// php.ini settings.
    #[serde(default)]
    pub php: PhpSettings,
    /// Where every node downloads the RDS CA bundle at boot (the database is reached with
    /// `verify-full`): AWS's trust store by default; an `s3://` URL under the stack bucket's
    /// `releases/` prefix (which the node roles may read) keeps the boot inside the stack.
    #[serde(default = "default_rds_ca_bundle_url")]
    pub rds_ca_bundle_url: String,
    /// The git repository efs-utils is built from at boot on Ubuntu and Debian (in neither
    /// archive), at its pinned tag: GitHub by default; a mirror of your own keeps the boot
    /// off GitHub.
    #[serde(default = "default_efs_utils_git_url")]
    pub efs_utils_git_url: String,
    /// Where Amazon Linux 2023 nodes get phpredis at boot (not in its archive): `pecl`
    /// (PECL's channel, pecl.php.net) by default; the `https://` or `s3://` URL of the
    /// extension's source archive (e.g. `redis-6.1.0.tgz`, under the stack bucket's
    /// `releases/` prefix, which the node roles may read) keeps the boot inside the stack.
    /// Other distributions install it from their archive.
    #[serde(default = "default_phpredis_source")]
    pub phpredis_source: String,
}

/// php.ini settings rendered on every node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhpSettings {
    /// PHP minor version, e.g. `8.3`; by default the newest the OS ships that the Moodle
    /// branch supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
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
            version: None,
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
/// AWS's global RDS CA bundle.
pub const DEFAULT_RDS_CA_BUNDLE_URL: &str =
    "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem";

fn default_rds_ca_bundle_url() -> String {
    DEFAULT_RDS_CA_BUNDLE_URL.into()
}
fn default_phpredis_source() -> String {
    "pecl".into()
}
fn default_efs_utils_git_url() -> String {
    "https://github.com/aws/efs-utils".into()
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
fn default_db_user() -> String {
    "moodle".into()
}
fn default_prefix() -> String {
    "mdl_".into()
}
