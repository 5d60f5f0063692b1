//! Rules of `database`: the instance class, the engine's own settings, backups and
//! maintenance, names, and the MySQL parameters Moodle depends on.

use super::{Checker, DB_USER, RESERVED_DB_USERS, WEEKLY_WINDOW, parse_size};
use crate::spec::{Database, DbEngine, DbParameters, Spec};

re!(DB_CLASS, r"^db\.[a-z0-9-]+\.[a-z0-9]+$");
re!(
    DAILY_WINDOW,
    r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$"
);
re!(DB_NAME, r"^[A-Za-z][A-Za-z0-9_]{0,63}$");
re!(DB_PARAM, r"^[a-z][a-z0-9_.]*$");

impl Checker<'_> {
    /// `database`: every rule group, in the order of the fields.
    pub(super) fn database(&mut self, spec: &Spec) {
        let db = &spec.database;
        self.pattern(
            "database.instance_class",
            &db.instance_class,
            &DB_CLASS,
            "an RDS instance class (e.g. `db.r6g.large`)",
        );
        self.database_engine(db);
        self.database_backups_and_maintenance(db);
        self.database_names(db);
        self.max_allowed_packet(&db.parameters);
        self.other_database_parameters(&db.parameters);
        self.database_monitoring(db);
    }

    /// Enhanced monitoring's interval (one RDS offers) and Performance Insights where the
    /// class has it (left off with a warning where it does not).
    fn database_monitoring(&mut self, db: &Database) {
        if ![0, 1, 5, 10, 15, 30, 60].contains(&db.monitoring_interval_seconds) {
            self.err(
                "database.monitoring_interval_seconds",
                format!(
                    "RDS cannot publish enhanced monitoring every {} seconds; use 1, 5, 10, 15, 30 or 60 (0 turns it off)",
                    db.monitoring_interval_seconds
                ),
            );
        }
        if db.performance_insights && !db.class_supports_performance_insights() {
            let at = self.at("database.instance_class");
            self.warn(
                "database.performance_insights",
                format!(
                    "`{}`{at} has no Performance Insights; it stays off (set `performance_insights: false` to say so)",
                    db.instance_class
                ),
            );
        }
        if let Some(value) = db.parameters.extra.get("require_secure_transport")
            && !matches!(value.to_ascii_lowercase().as_str(), "1" | "on")
        {
            self.err(
                "database.parameters.extra.require_secure_transport",
                "the database refuses connections without TLS; it cannot be turned off",
            );
        }
    }

    /// What depends on the engine: Aurora's readers, or RDS MySQL's Multi-AZ and storage.
    fn database_engine(&mut self, db: &Database) {
        match db.engine {
            DbEngine::AuroraMysql3 => {
                self.range("database.aurora_readers", db.aurora_readers, 0, 15, "");
                if db.aurora_readers == 0 {
                    self.warn("database.aurora_readers", "no reader: a writer failure means minutes of downtime while Aurora replaces it");
                }
            }
            DbEngine::Mysql80 | DbEngine::Mysql84 => {
                if !db.multi_az {
                    self.warn(
                        "database.multi_az",
                        "a single-AZ database is not highly available",
                    );
                }
                self.range(
                    "database.allocated_storage_gib",
                    db.allocated_storage_gib,
                    20,
                    65_536,
                    "",
                );
                if db.max_allocated_storage_gib < db.allocated_storage_gib {
                    self.err(
                        "database.max_allocated_storage_gib",
                        format!(
                            "must be at least `allocated_storage_gib` ({}), got {}",
                            db.allocated_storage_gib, db.max_allocated_storage_gib
                        ),
                    );
                }
            }
        }
    }

    /// Backup retention, the backup and maintenance windows, deletion protection.
    fn database_backups_and_maintenance(&mut self, db: &Database) {
        self.range(
            "database.backup_retention_days",
            db.backup_retention_days,
            1,
            35,
            "automated backups need at least one day",
        );
        self.pattern(
            "database.backup_window",
            &db.backup_window,
            &DAILY_WINDOW,
            "a UTC window `hh:mm-hh:mm`",
        );
        self.pattern(
            "database.maintenance_window",
            &db.maintenance_window,
            &WEEKLY_WINDOW,
            "a UTC window `ddd:hh:mm-ddd:hh:mm`",
        );
        if !db.deletion_protection {
            self.warn(
                "database.deletion_protection",
                "off: the database can be deleted by any API call",
            );
        }
    }

    /// The database name and the master user name (well-formed, not reserved).
    fn database_names(&mut self, db: &Database) {
        self.pattern(
            "database.name",
            &db.name,
            &DB_NAME,
            "a database name (a letter, then letters, digits, `_`)",
        );
        if self.pattern(
            "database.master_username",
            &db.master_username,
            &DB_USER,
            "a user name (a letter, then up to 15 letters, digits, `_`)",
        ) && RESERVED_DB_USERS.contains(&db.master_username.to_ascii_lowercase().as_str())
        {
            self.err(
                "database.master_username",
                format!("`{}` is reserved by MySQL or RDS", db.master_username),
            );
        }
    }

    /// `max_allowed_packet`: a size from 256M (large uploads and restores) to MySQL's 1G.
    fn max_allowed_packet(&mut self, p: &DbParameters) {
        match parse_size(&p.max_allowed_packet) {
            Some(n) if n < 256 << 20 => self.err(
                "database.parameters.max_allowed_packet",
                format!(
                    "must be at least 256M for large uploads and restores, got `{}`",
                    p.max_allowed_packet
                ),
            ),
            Some(n) if n > 1 << 30 => self.err(
                "database.parameters.max_allowed_packet",
                format!("MySQL allows at most 1G, got `{}`", p.max_allowed_packet),
            ),
            Some(_) => {}
            None => self.err(
                "database.parameters.max_allowed_packet",
                format!(
                    "`{}` is not a size (bytes, or a number with K, M or G)",
                    p.max_allowed_packet
                ),
            ),
        }
    }

    /// `innodb_buffer_pool_size` (a size or an RDS formula) and the `extra` parameters'
    /// names, which must not repeat the two named ones.
    fn other_database_parameters(&mut self, p: &DbParameters) {
        let pool = &p.innodb_buffer_pool_size;
        if !(pool.starts_with("{DBInstanceClassMemory") && pool.ends_with('}'))
            && parse_size(pool).is_none()
        {
            self.err(
                "database.parameters.innodb_buffer_pool_size",
                format!("`{pool}` is neither a size nor an RDS formula like `{{DBInstanceClassMemory*3/4}}`"),
            );
        }
        for name in p.extra.keys() {
            let path = format!("database.parameters.extra.{name}");
            if !DB_PARAM.is_match(name) {
                self.err(&path, format!("`{name}` is not a MySQL parameter name"));
            } else if name == "max_allowed_packet" || name == "innodb_buffer_pool_size" {
                self.err(
                    &path,
                    format!("set `{name}` in `database.parameters`, not in `extra`"),
                );
            }
        }
    }
}
