//! Rules of `moodle`: the site's URL, code source and paths, its fit with the database
//! engine and the platform (distribution, PHP, branch), its database user, names and PHP
//! settings.

use super::{Checker, DB_USER, RESERVED_DB_USERS, parse_size};
use crate::spec::{DbEngine, Moodle, Os, PhpSettings, Spec};
use std::collections::BTreeMap;

re!(MOVING_BRANCH, r"^(MOODLE_[0-9]+_STABLE|main|master)$");
re!(DB_PREFIX, r"^[a-z][a-z0-9_]{0,9}$");
re!(
    WWWROOT,
    r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*[A-Za-z0-9._~-])?$"
);

impl Checker<'_> {
    /// `moodle`: every rule group, in the order of the fields.
    pub(super) fn moodle(&mut self, spec: &Spec) {
        let m = &spec.moodle;
        self.wwwroot(m);
        self.code_source(m);
        self.boot_downloads(m);
        self.phpredis_source(m);
        self.moodle_paths(m);
        if !m.admin_email.contains('@') {
            self.err(
                "moodle.admin_email",
                format!("`{}` is not an e-mail address", m.admin_email),
            );
        }
        self.engine_runs_version(spec);
        self.platform(spec);
        self.moodle_database_user(spec);
        self.site_names(m);
        self.php_settings(&m.php);
    }

    /// `wwwroot`: an https URL (TLS ends at the load balancer) without a trailing slash,
    /// query or fragment.
    fn wwwroot(&mut self, m: &Moodle) {
        if !m.wwwroot.starts_with("https://") {
            self.err("moodle.wwwroot", format!("`{}` must be https: the load balancer terminates TLS and Moodle runs with `sslproxy`", m.wwwroot));
        } else {
            self.pattern(
                "moodle.wwwroot",
                &m.wwwroot,
                &WWWROOT,
                "an https URL without a trailing slash, query or fragment",
            );
        }
    }

    /// `git_url` and `git_ref`: a git URL or an absolute path (the CLI clones it with the
    /// operator's git), and a ref without spaces (warned about when it is a branch that moves).
    fn code_source(&mut self, m: &Moodle) {
        let git_ok = ["https://", "ssh://", "git@", "file:///", "/"]
            .iter()
            .any(|p| m.git_url.starts_with(p));
        if !git_ok {
            self.err(
                "moodle.git_url",
                format!(
                    "`{}` is not a git URL (https://, ssh://, git@, file:/// or an absolute path)",
                    m.git_url
                ),
            );
        }
        if m.git_ref.trim().is_empty() || m.git_ref.chars().any(char::is_whitespace) {
            self.err(
                "moodle.git_ref",
                "must be a branch, tag or commit without spaces",
            );
        } else if MOVING_BRANCH.is_match(&m.git_ref) {
            self.warn(
                "moodle.git_ref",
                format!("`{}` is a branch that moves: nodes booted at different times run different code, and a web node with newer code than the site waits for an upgrade that only a new cron instance runs; pin a tag (e.g. `v4.5.6`) or a commit", m.git_ref),
            );
        }
    }

    /// What a node downloads at boot: the RDS CA bundle (https:// or s3://) and efs-utils'
    /// repository (a git URL).
    fn boot_downloads(&mut self, m: &Moodle) {
        let ok = ["https://", "s3://"]
            .iter()
            .any(|p| m.rds_ca_bundle_url.starts_with(p))
            && !m.rds_ca_bundle_url.chars().any(char::is_whitespace);
        if !ok {
            self.err(
                "moodle.rds_ca_bundle_url",
                format!("`{}` must be an https:// or s3:// URL", m.rds_ca_bundle_url),
            );
        }
        let git_ok = ["https://", "ssh://", "git@", "file:///"]
            .iter()
            .any(|p| m.efs_utils_git_url.starts_with(p))
            && !m.efs_utils_git_url.chars().any(char::is_whitespace);
        if !git_ok {
            self.err(
                "moodle.efs_utils_git_url",
                format!(
                    "`{}` is not a git URL (https://, ssh://, git@ or file:///)",
                    m.efs_utils_git_url
                ),
            );
        }
    }

    /// `phpredis_source`: `pecl` or a URL a node can download.
    fn phpredis_source(&mut self, m: &Moodle) {
        let source = &m.phpredis_source;
        let url = ["https://", "s3://"].iter().any(|p| source.starts_with(p))
            && !source.chars().any(char::is_whitespace);
        if source != "pecl" && !url {
            self.err(
                "moodle.phpredis_source",
                format!("`{source}` must be `pecl` or an https:// or s3:// URL of phpredis' source archive"),
            );
        }
    }

    /// `code_path` and `dataroot`: clean absolute paths, neither inside the other.
    fn moodle_paths(&mut self, m: &Moodle) {
        for (path, value) in [
            ("moodle.code_path", &m.code_path),
            ("moodle.dataroot", &m.dataroot),
        ] {
            if !value.starts_with('/')
                || (value.len() > 1 && value.ends_with('/'))
                || value.contains("..")
            {
                self.err(
                    path,
                    format!("`{value}` must be an absolute path without a trailing slash or `..`"),
                );
            }
        }
        let inside = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
        if inside(&m.dataroot, &m.code_path) || inside(&m.code_path, &m.dataroot) {
            self.err("moodle.dataroot", "must not be inside the code (or the code inside it): moodledata would be served over the web");
        }
    }

    /// Moodle 5.x does not run on MySQL 8.0.
    fn engine_runs_version(&mut self, spec: &Spec) {
        let m = &spec.moodle;
        if m.version.is_5x() && spec.database.engine == DbEngine::Mysql80 {
            let at = self.at("moodle.version");
            self.err(
                "database.engine",
                format!(
                    "`mysql-8.0` cannot run `moodle.version` {}{at}: Moodle 5.x accepts `mysqli` only on MySQL 8.4 or later; use `mysql-8.4` or `aurora-mysql-3`",
                    m.version.as_str()
                ),
            );
        }
    }

    /// The distribution, the PHP version and the Moodle branch fit together.
    fn platform(&mut self, spec: &Spec) {
        let Some(os) = self.distribution(spec) else {
            return;
        };
        self.cron_ami_distribution(spec, os);
        self.php_version_fits(spec, os);
    }

    /// The web nodes' distribution: `web.os`, or the one `web.ami` names; an error (and
    /// `None`) when neither says it or they disagree.
    fn distribution(&mut self, spec: &Spec) -> Option<Os> {
        let named = Os::of_ami(&spec.web.ami);
        match (spec.web.os, named) {
            (None, None) => {
                let at = self.at("web.ami");
                self.err(
                    "web.os",
                    format!("required: `web.ami`{at} does not say its distribution; `ubuntu-24.04`, `debian-12` or `amazon-linux-2023`"),
                );
                None
            }
            (Some(os), Some(other)) if os != other => {
                let at = self.at("web.ami");
                self.err(
                    "web.os",
                    format!(
                        "`{}` but `web.ami`{at} is an `{}` image",
                        os.as_str(),
                        other.as_str()
                    ),
                );
                None
            }
            (Some(os), _) | (None, Some(os)) => Some(os),
        }
    }

    /// `cron.ami`, when it names a distribution, names the web nodes' `os`.
    fn cron_ami_distribution(&mut self, spec: &Spec, os: Os) {
        if let Some(ami) = &spec.cron.ami
            && let Some(other) = Os::of_ami(ami).filter(|o| *o != os)
        {
            self.err(
                    "cron.ami",
                    format!("is an `{}` image but the web nodes run `{}`: the cron instance renders the same installation", other.as_str(), os.as_str()),
                );
        }
    }

    /// The PHP version is shipped by `os` and supported by the Moodle branch.
    fn php_version_fits(&mut self, spec: &Spec, os: Os) {
        let m = &spec.moodle;
        let php = spec.php_version();
        let path = if m.php.version.is_some() {
            "moodle.php.version"
        } else {
            "moodle.version"
        };
        if !os.php_versions().contains(&php.as_str()) {
            let field = if spec.web.os.is_some() {
                "web.os"
            } else {
                "web.ami"
            };
            let at = self.at(field);
            self.err(
                "moodle.php.version",
                format!(
                    "PHP {php} is not shipped by `{}` (`{field}`{at}); it has {}",
                    os.as_str(),
                    os.php_versions().join(", ")
                ),
            );
        } else if !m.version.php_versions().contains(&php.as_str()) {
            let other = if path == "moodle.version" {
                "moodle.php.version"
            } else {
                "moodle.version"
            };
            let at = self.at(other);
            self.err(
                path,
                format!(
                    "Moodle {} needs PHP {} (`{other}`{at} gives PHP {php})",
                    m.version.as_str(),
                    m.version.php_versions().join(", "),
                ),
            );
        }
    }

    /// `db_user` (well-formed, not reserved, not the master user) and `db_prefix`.
    fn moodle_database_user(&mut self, spec: &Spec) {
        let m = &spec.moodle;
        self.pattern(
            "moodle.db_user",
            &m.db_user,
            &DB_USER,
            "a MySQL user name (a letter, then letters, digits or `_`, at most 16)",
        );
        if RESERVED_DB_USERS.contains(&m.db_user.to_ascii_lowercase().as_str()) {
            self.err("moodle.db_user", format!("`{}` is reserved", m.db_user));
        }
        if m.db_user == spec.database.master_username {
            let at = self.at("database.master_username");
            self.err(
                "moodle.db_user",
                format!("must differ from `database.master_username`{at}: the site connects as its own user, because RDS rotates the master password"),
            );
        }
        self.pattern(
            "moodle.db_prefix",
            &m.db_prefix,
            &DB_PREFIX,
            "a table prefix (a lowercase letter, then lowercase letters, digits or `_`, at most 10)",
        );
    }

    /// `site_name` and `site_short_name`: one line of text each.
    fn site_names(&mut self, m: &Moodle) {
        for (path, value) in [
            ("moodle.site_name", Some(&m.site_name)),
            ("moodle.site_short_name", m.site_short_name.as_ref()),
        ] {
            if let Some(v) = value
                && (v.trim().is_empty() || v.chars().any(char::is_control))
            {
                self.err(path, "must be one line of text");
            }
        }
    }

    /// `php`: enough `max_input_vars` to install, sizes that parse, a post size that holds
    /// an upload, and enough memory.
    fn php_settings(&mut self, php: &PhpSettings) {
        if php.max_input_vars < 5000 {
            self.err(
                "moodle.php.max_input_vars",
                format!(
                    "must be at least 5000 (Moodle refuses to install below it), got {}",
                    php.max_input_vars
                ),
            );
        }
        let mut sizes = BTreeMap::new();
        for (name, value) in [
            ("memory_limit", &php.memory_limit),
            ("upload_max_filesize", &php.upload_max_filesize),
            ("post_max_size", &php.post_max_size),
        ] {
            match parse_size(value) {
                Some(n) => {
                    sizes.insert(name, n);
                }
                None => self.err(
                    &format!("moodle.php.{name}"),
                    format!("`{value}` is not a size like `512M`"),
                ),
            }
        }
        if let (Some(up), Some(post)) =
            (sizes.get("upload_max_filesize"), sizes.get("post_max_size"))
            && post < up
        {
            self.err(
                "moodle.php.post_max_size",
                "must be at least `upload_max_filesize`, or large uploads fail",
            );
        }
        if let Some(mem) = sizes.get("memory_limit")
            && *mem < 256 << 20
        {
            self.err("moodle.php.memory_limit", "Moodle needs at least 256M");
        }
    }
}
