//! What the rendered files need to know about a site, worked out once from the spec: the
//! distribution's paths and packages, the branch's layout, the names the nodes look up at
//! boot. Pure; every template reads this, never the spec's raw fields.

use crate::spec::{DbEngine, MoodleVersion, Os, Spec, WebServer};
use serde::Serialize;

/// The Moodle user's grants: enough to install, upgrade and run (tested by installing 4.5
/// and 5.1 over TLS as a user with exactly these).
pub const DB_GRANTS: &str =
    "SELECT, INSERT, UPDATE, DELETE, CREATE, CREATE TEMPORARY TABLES, DROP, INDEX, ALTER";

/// efs-utils release built on Ubuntu and Debian (packaged in neither archive). The 1.x line is
/// Python and stunnel, so it builds in seconds with no Rust or Go toolchain.
pub const EFS_UTILS_REF: &str = "v1.36.0";

/// The RDS certificate bundle every node adds to its trust store (`dboptions` `verify-full`),
/// unless the spec's `moodle.rds_ca_bundle_url` names another.
pub const RDS_CA_URL: &str = crate::spec::DEFAULT_RDS_CA_BUNDLE_URL;

pub use crate::names::READY_HOOK;

/// Where the node writes the secrets it reads at boot; config.php requires it.
pub const SECRETS_FILE: &str = "/etc/moodle-ha/secrets.php";

/// Everything the templates use.
#[derive(Clone, Debug, Serialize)]
pub struct Site {
    /// Stack name.
    pub stack: String,
    /// AWS region.
    pub region: String,
    /// Distribution as written in a spec.
    pub os: &'static str,
    /// `debian` or `rhel`: which package manager and layout.
    pub os_family: &'static str,
    /// Moodle branch, e.g. `4.5`.
    pub moodle_version: &'static str,
    /// The branch's stable git branch, cited in config.php.
    pub moodle_branch: &'static str,
    /// PHP minor version.
    pub php_version: String,
    /// The PHP binary cron and the CLI scripts use.
    pub php_bin: &'static str,
    /// PHP-FPM's socket.
    pub fpm_socket: String,
    /// PHP-FPM's systemd unit.
    pub fpm_service: String,
    /// php.ini drop-ins to write (FPM and CLI read different directories on Debian).
    pub php_ini_paths: Vec<String>,
    /// `nginx` or `apache`.
    pub web_server: &'static str,
    /// The web server's systemd unit.
    pub web_service: &'static str,
    /// Where the site config goes.
    pub site_config_path: &'static str,
    /// The user PHP-FPM runs as (owns moodledata).
    pub web_user: &'static str,
    /// Packages cloud-init installs on every node.
    pub packages: Vec<String>,
    /// The cron daemon's package (the cron instance only).
    pub cron_package: &'static str,
    /// The cron daemon's systemd unit.
    pub cron_service: &'static str,
    /// The system CA bundle (public CAs plus, after boot, the RDS CAs).
    pub ca_bundle: &'static str,
    /// Code root: config.php and `admin/cli` live here on every branch.
    pub code_root: String,
    /// Web server document root: the code root, or its `public/` directory from 5.1.
    pub document_root: String,
    /// moodledata on EFS.
    pub dataroot: String,
    /// Node-local cache directory.
    pub localcachedir: &'static str,
    /// The SSM parameter holding the release record the node runs (the same for every
    /// release, so a new release changes no user data).
    pub release_parameter: String,
    /// The SSM parameter the cron instance's agent reads its requests from.
    pub agent_parameter: String,
    /// Moodle's `$branch` of the spec's `moodle.version` (`405`): a node refuses a release of
    /// another branch.
    pub release_branch: &'static str,
    /// wwwroot.
    pub wwwroot: String,
    /// wwwroot's host name, the Host the health check is given.
    pub host: String,
    /// The load balancer's health-check path.
    pub health_path: String,
    /// The PHP script behind that path, relative to the document root.
    pub health_script: String,
    /// Largest request body (post_max_size), for the web server.
    pub max_body: String,
    /// `max_input_vars`.
    pub max_input_vars: u32,
    /// `memory_limit`.
    pub memory_limit: String,
    /// `upload_max_filesize`.
    pub upload_max_filesize: String,
    /// `post_max_size`.
    pub post_max_size: String,
    /// `mysqli` or `auroramysql`.
    pub dbtype: &'static str,
    /// `instance` (RDS MySQL) or `cluster` (Aurora): how a node looks the endpoint up.
    pub db_kind: &'static str,
    /// The DB instance or cluster identifier.
    pub db_id: String,
    /// Database name.
    pub db_name: String,
    /// Moodle's own database user.
    pub db_user: String,
    /// Table prefix.
    pub db_prefix: String,
    /// The grants of Moodle's user.
    pub db_grants: &'static str,
    /// The Redis replication group.
    pub redis_group: String,
    /// The web nodes' Auto Scaling group.
    pub asg_name: String,
    /// Its launch hook.
    pub ready_hook: &'static str,
    /// The EFS creation token the node finds its file system by.
    pub efs_token: String,
    /// Secret names.
    pub secret_db_user: String,
    /// The Redis AUTH token's secret.
    pub secret_redis_auth: String,
    /// The admin password's secret.
    pub secret_admin: String,
    /// Where config.php finds the secrets on the node.
    pub secrets_file: &'static str,
    /// Installer settings.
    pub site_name: String,
    /// Installer short name.
    pub site_short_name: String,
    /// Installer admin e-mail.
    pub admin_email: String,
    /// The site's own cron lines (schedule, command with the PHP path).
    pub jobs: Vec<(String, String)>,
    /// efs-utils ref built on Ubuntu and Debian.
    pub efs_utils_ref: &'static str,
    /// The RDS CA bundle URL (https:// or s3://).
    pub rds_ca_url: String,
    /// efs-utils' git repository.
    pub efs_utils_git_url: String,
    /// Where Amazon Linux 2023 nodes get phpredis (`pecl` or a URL).
    pub phpredis_source: String,
    /// 4.5 and 5.0 serve the code root: deny its internal files.
    pub deny_internal_paths: bool,
}

impl Site {
    /// Works out the site from a validated spec.
    pub fn new(spec: &Spec) -> Site {
        let m = &spec.moodle;
        let php = spec.php_version();
        let dist = Distribution::of(spec.os(), &php, m.web_server == WebServer::Nginx);
        let branch = Branch::of(m.version, &m.code_path);
        let health = Health::of(spec);
        let lookups = Lookups::of(spec);
        let php_bin = "/usr/bin/php";
        Site {
            stack: spec.name.clone(),
            region: spec.region.clone(),
            os: dist.os,
            os_family: dist.os_family,
            moodle_version: branch.moodle_version,
            moodle_branch: branch.moodle_branch,
            fpm_socket: dist.fpm_socket,
            fpm_service: dist.fpm_service,
            php_ini_paths: dist.php_ini_paths,
            php_version: php,
            php_bin,
            web_server: dist.web_server,
            web_service: dist.web_service,
            site_config_path: dist.site_config_path,
            web_user: dist.web_user,
            packages: dist.packages,
            cron_package: dist.cron_package,
            cron_service: dist.cron_service,
            ca_bundle: dist.ca_bundle,
            deny_internal_paths: branch.deny_internal_paths,
            code_root: branch.code_root,
            document_root: branch.document_root,
            dataroot: m.dataroot.trim_end_matches('/').to_string(),
            localcachedir: "/var/cache/moodle",
            release_parameter: crate::names::Names::of(&spec.name).release_parameter(),
            agent_parameter: crate::names::Names::of(&spec.name).agent_parameter(),
            release_branch: crate::release::branch_of(m.version),
            wwwroot: m.wwwroot.clone(),
            host: health.host,
            health_path: health.path,
            health_script: health.script,
            max_body: m.php.post_max_size.clone(),
            max_input_vars: m.php.max_input_vars,
            memory_limit: m.php.memory_limit.clone(),
            upload_max_filesize: m.php.upload_max_filesize.clone(),
            post_max_size: m.php.post_max_size.clone(),
            dbtype: lookups.dbtype,
            db_kind: lookups.db_kind,
            db_id: lookups.db_id,
            db_name: spec.database.name.clone(),
            db_user: m.db_user.clone(),
            db_prefix: m.db_prefix.clone(),
            db_grants: DB_GRANTS,
            redis_group: lookups.redis_group,
            asg_name: lookups.asg_name,
            ready_hook: READY_HOOK,
            efs_token: lookups.efs_token,
            secret_db_user: lookups.secret_db_user,
            secret_redis_auth: lookups.secret_redis_auth,
            secret_admin: lookups.secret_admin,
            secrets_file: SECRETS_FILE,
            site_name: m.site_name.clone(),
            site_short_name: spec.site_short_name().to_string(),
            admin_email: m.admin_email.clone(),
            jobs: cron_lines(spec, php_bin),
            efs_utils_ref: EFS_UTILS_REF,
            rds_ca_url: m.rds_ca_bundle_url.clone(),
            efs_utils_git_url: m.efs_utils_git_url.clone(),
            phpredis_source: m.phpredis_source.clone(),
        }
    }
}

/// The distribution's facts: PHP-FPM, web server and cron units and paths, the web user,
/// packages and CA bundle (see the fields of the same names on [`Site`]).
struct Distribution {
    os: &'static str,
    os_family: &'static str,
    fpm_socket: String,
    fpm_service: String,
    php_ini_paths: Vec<String>,
    web_server: &'static str,
    web_service: &'static str,
    site_config_path: &'static str,
    web_user: &'static str,
    packages: Vec<String>,
    cron_package: &'static str,
    cron_service: &'static str,
    ca_bundle: &'static str,
}

impl Distribution {
    /// The facts of `os` with PHP `php` and nginx (or else Apache).
    fn of(os: Os, php: &str, nginx: bool) -> Distribution {
        let debian = matches!(os, Os::Ubuntu2404 | Os::Debian12);
        Distribution {
            os: os.as_str(),
            os_family: if debian { "debian" } else { "rhel" },
            fpm_socket: if debian {
                format!("/run/php/php{php}-fpm.sock")
            } else {
                "/run/php-fpm/www.sock".into()
            },
            fpm_service: if debian {
                format!("php{php}-fpm")
            } else {
                "php-fpm".into()
            },
            php_ini_paths: if debian {
                vec![
                    format!("/etc/php/{php}/fpm/conf.d/90-moodle-ha.ini"),
                    format!("/etc/php/{php}/cli/conf.d/90-moodle-ha.ini"),
                ]
            } else {
                vec!["/etc/php.d/90-moodle-ha.ini".into()]
            },
            web_server: if nginx { "nginx" } else { "apache" },
            web_service: match (nginx, debian) {
                (true, _) => "nginx",
                (false, true) => "apache2",
                (false, false) => "httpd",
            },
            site_config_path: match (nginx, debian) {
                (true, _) => "/etc/nginx/conf.d/moodle.conf",
                (false, true) => "/etc/apache2/sites-available/moodle.conf",
                (false, false) => "/etc/httpd/conf.d/moodle.conf",
            },
            web_user: if debian { "www-data" } else { "apache" },
            packages: packages(os, php, nginx),
            cron_package: if debian { "cron" } else { "cronie" },
            cron_service: if debian { "cron" } else { "crond" },
            ca_bundle: if debian {
                "/etc/ssl/certs/ca-certificates.crt"
            } else {
                "/etc/pki/tls/certs/ca-bundle.crt"
            },
        }
    }
}

/// The Moodle branch's facts: its names and where the code is served from.
struct Branch {
    moodle_version: &'static str,
    moodle_branch: &'static str,
    code_root: String,
    document_root: String,
    deny_internal_paths: bool,
}

impl Branch {
    /// The facts of `version` with its code at `code_path`.
    fn of(version: MoodleVersion, code_path: &str) -> Branch {
        let code_root = code_path.trim_end_matches('/').to_string();
        let document_root = if version.serves_public_dir() {
            format!("{code_root}/public")
        } else {
            code_root.clone()
        };
        Branch {
            moodle_version: version.as_str(),
            moodle_branch: match version {
                MoodleVersion::V4_5 => "MOODLE_405_STABLE",
                MoodleVersion::V5_0 => "MOODLE_500_STABLE",
                MoodleVersion::V5_1 => "MOODLE_501_STABLE",
            },
            code_root,
            document_root,
            deny_internal_paths: !version.serves_public_dir(),
        }
    }
}

/// What the web server needs for the load balancer's health check.
struct Health {
    host: String,
    path: String,
    script: String,
}

impl Health {
    /// wwwroot's host name, the health-check path and the PHP script behind it.
    fn of(spec: &Spec) -> Health {
        let host = spec
            .moodle
            .wwwroot
            .trim_start_matches("https://")
            .split(['/', ':'])
            .next()
            .unwrap_or_default()
            .to_string();
        let path = spec.load_balancer.health_check.path.clone();
        let script = if path.ends_with('/') {
            format!("{path}index.php")
        } else {
            path.clone()
        };
        Health { host, path, script }
    }
}

/// The database's driver and kind, and the names a node looks its resources and secrets up
/// by at boot.
struct Lookups {
    dbtype: &'static str,
    db_kind: &'static str,
    db_id: String,
    redis_group: String,
    asg_name: String,
    efs_token: String,
    secret_db_user: String,
    secret_redis_auth: String,
    secret_admin: String,
}

impl Lookups {
    /// The names of the stack's resources, from its name and database engine.
    fn of(spec: &Spec) -> Lookups {
        let aurora = spec.database.engine == DbEngine::AuroraMysql3;
        let names = crate::names::Names::of(&spec.name);
        Lookups {
            dbtype: if aurora { "auroramysql" } else { "mysqli" },
            db_kind: if aurora { "cluster" } else { "instance" },
            db_id: if aurora {
                names.db_cluster()
            } else {
                names.db_instance()
            },
            redis_group: names.redis_group(),
            asg_name: names.web_group(),
            efs_token: names.efs_creation_token(crate::names::FILE_SYSTEM),
            secret_db_user: names.secret("db-user"),
            secret_redis_auth: names.secret("redis-auth"),
            secret_admin: names.secret("admin"),
        }
    }
}

/// The site's own cron lines: the schedule with single spaces, and the command with a
/// leading `php ` replaced by `php_bin`.
fn cron_lines(spec: &Spec, php_bin: &str) -> Vec<(String, String)> {
    spec.cron
        .jobs
        .iter()
        .map(|j| {
            let command = match j.command.strip_prefix("php ") {
                Some(rest) => format!("{php_bin} {rest}"),
                None => j.command.clone(),
            };
            (
                j.schedule.split_whitespace().collect::<Vec<_>>().join(" "),
                command,
            )
        })
        .collect()
}

/// The distribution's packages for the web server, PHP with every extension Moodle needs
/// (`admin/environment.xml`: iconv mbstring curl openssl ctype zip zlib gd simplexml spl pcre
/// dom xml xmlreader intl json hash fileinfo sodium; plus mysqli, redis, soap, opcache) and
/// the tools the boot scripts use.
fn packages(os: Os, php: &str, nginx: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    match os {
        Os::Ubuntu2404 => {
            out.push(if nginx { "nginx" } else { "apache2" }.into());
            for ext in [
                "fpm", "cli", "mysql", "curl", "gd", "intl", "mbstring", "soap", "xml", "zip",
                "opcache", "redis",
            ] {
                out.push(format!("php{php}-{ext}"));
            }
            // git, nfs-common, stunnel4 and binutils for efs-utils (fetched and built at
            // boot: it is not in Ubuntu's archive).
            out.extend(
                [
                    "git",
                    "nfs-common",
                    "stunnel4",
                    "binutils",
                    "curl",
                    "ca-certificates",
                ]
                .map(String::from),
            );
        }
        Os::Debian12 => {
            out.push(if nginx { "nginx" } else { "apache2" }.into());
            for ext in [
                "fpm", "cli", "mysql", "curl", "gd", "intl", "mbstring", "soap", "xml", "zip",
                "opcache", "redis",
            ] {
                out.push(format!("php{php}-{ext}"));
            }
            // The AWS CLI is in Debian's archive (2.9); efs-utils is not: built at boot as on
            // Ubuntu (nfs-common, stunnel4, binutils).
            out.extend(
                [
                    "awscli",
                    "git",
                    "nfs-common",
                    "stunnel4",
                    "binutils",
                    "curl",
                    "ca-certificates",
                ]
                .map(String::from),
            );
        }
        Os::AmazonLinux2023 => {
            out.push(if nginx { "nginx" } else { "httpd" }.into());
            out.push(format!("php{php}"));
            for ext in [
                "fpm", "cli", "mysqlnd", "gd", "intl", "mbstring", "soap", "xml", "zip", "sodium",
                "opcache", "devel",
            ] {
                out.push(format!("php{php}-{ext}"));
            }
            // phpredis is not packaged for AL2023: built with pecl (php-pear, gcc, make).
            out.extend(["php-pear", "gcc", "make", "amazon-efs-utils"].map(String::from));
        }
    }
    out
}
