//! Rules of `cache` (ElastiCache Redis): node type, version, replicas and failover,
//! maintenance and snapshots.

use super::{Checker, WEEKLY_WINDOW};
use crate::spec::Spec;

re!(CACHE_NODE, r"^cache\.[a-z0-9]+\.[a-z0-9]+$");
re!(ENGINE_VERSION, r"^[0-9]+(\.[0-9]+){0,2}$");

impl Checker<'_> {
    /// `cache`: well-formed node type and version, replicas for failover and failover for
    /// Multi-AZ (warned about when off, since sessions live in Redis), windows and retention.
    pub(super) fn cache(&mut self, spec: &Spec) {
        let c = &spec.cache;
        self.pattern(
            "cache.node_type",
            &c.node_type,
            &CACHE_NODE,
            "an ElastiCache node type (e.g. `cache.r7g.large`)",
        );
        self.pattern(
            "cache.engine_version",
            &c.engine_version,
            &ENGINE_VERSION,
            "a Redis engine version (e.g. `7.1`)",
        );
        self.range("cache.replicas", c.replicas, 0, 5, "");
        if c.automatic_failover && c.replicas == 0 {
            self.err(
                "cache.replicas",
                "automatic failover needs at least one replica",
            );
        }
        if c.multi_az && !c.automatic_failover {
            self.err(
                "cache.multi_az",
                "Multi-AZ needs `automatic_failover: true`",
            );
        }
        if !c.automatic_failover {
            self.warn(
                "cache.automatic_failover",
                "OFF while Moodle keeps its sessions in Redis: losing the primary logs every user out and stops the site until it is replaced",
            );
        }
        self.pattern(
            "cache.maintenance_window",
            &c.maintenance_window,
            &WEEKLY_WINDOW,
            "a UTC window `ddd:hh:mm-ddd:hh:mm`",
        );
        self.range(
            "cache.snapshot_retention_days",
            c.snapshot_retention_days,
            0,
            35,
            "",
        );
    }
}
