//! The names of the stack's resources that something other than the tags finds them by: the
//! nodes look them up at boot (database, Redis, secrets, file system, Auto Scaling group and
//! its hooks), and the desired state creates them. Defined once here, used by both
//! [`crate::desired`] and [`crate::render`], so the two cannot drift apart.

/// The launch lifecycle hook: a new web node stays out of service until its boot script
/// completes it, once it serves the site.
pub const READY_HOOK: &str = "moodle-ha-ready";

/// The termination lifecycle hook that lets a leaving web node drain.
pub const DRAIN_HOOK: &str = "moodle-ha-drain";

/// The file system's key name (its creation token ends with it).
pub const FILE_SYSTEM: &str = "moodledata";

/// Names of one stack's resources.
#[derive(Clone, Copy, Debug)]
pub struct Names<'a> {
    stack: &'a str,
}

impl<'a> Names<'a> {
    /// The names of stack `stack`.
    pub fn of(stack: &'a str) -> Self {
        Names { stack }
    }

    /// The RDS MySQL instance.
    pub fn db_instance(&self) -> String {
        format!("{}-db", self.stack)
    }

    /// The Aurora cluster.
    pub fn db_cluster(&self) -> String {
        format!("{}-db-cluster", self.stack)
    }

    /// Aurora member `n` (0 is made the writer).
    pub fn db_member(&self, n: u32) -> String {
        format!("{}-db-{n}", self.stack)
    }

    /// The Redis replication group.
    pub fn redis_group(&self) -> String {
        format!("{}-redis", self.stack)
    }

    /// A secret the stack generates (`db-user`, `admin`, `redis-auth`).
    pub fn secret(&self, purpose: &str) -> String {
        format!("moodle-ha/{}/{purpose}", self.stack)
    }

    /// The EFS creation token of the file system with key name `name`.
    pub fn efs_creation_token(&self, name: &str) -> String {
        format!("moodle-ha/{}/{name}", self.stack)
    }

    /// The web fleet's Auto Scaling group (and its launch template and target group).
    pub fn web_group(&self) -> String {
        format!("{}-web", self.stack)
    }

    /// The log group RDS exports log `log` (`error`, `slowquery`) of DB instance `identifier`
    /// to: a name AWS fixes.
    pub fn rds_instance_log_group(identifier: &str, log: &str) -> String {
        format!("/aws/rds/instance/{identifier}/{log}")
    }

    /// The log group Aurora exports log `log` of DB cluster `identifier` to (fixed by AWS).
    pub fn rds_cluster_log_group(identifier: &str, log: &str) -> String {
        format!("/aws/rds/cluster/{identifier}/{log}")
    }

    /// The log group of the stack's VPC flow logs.
    pub fn flow_log_group(&self) -> String {
        format!("/moodle-ha/{}/vpc-flow-logs", self.stack)
    }

    /// The log group of the load balancer's WAF web ACL (WAF requires the `aws-waf-logs-`
    /// prefix).
    pub fn waf_log_group(&self) -> String {
        format!("aws-waf-logs-{}", self.stack)
    }

    /// The name prefixes under which every log group the stack can have lives: CloudWatch
    /// Logs cannot list by tag, so the stack's groups are listed by these, then told apart by
    /// their tags.
    pub fn log_group_prefixes(&self) -> Vec<String> {
        vec![
            format!("/moodle-ha/{}/", self.stack),
            format!("/aws/rds/instance/{}-", self.stack),
            format!("/aws/rds/cluster/{}-", self.stack),
            self.waf_log_group(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_patterns() {
        let n = Names::of("s");
        assert_eq!(
            [
                n.db_instance(),
                n.db_cluster(),
                n.db_member(2),
                n.redis_group(),
                n.secret("admin"),
                n.efs_creation_token(FILE_SYSTEM),
                n.web_group(),
                n.flow_log_group(),
                Names::rds_instance_log_group(&n.db_instance(), "error"),
            ],
            [
                "s-db",
                "s-db-cluster",
                "s-db-2",
                "s-redis",
                "moodle-ha/s/admin",
                "moodle-ha/s/moodledata",
                "s-web",
                "/moodle-ha/s/vpc-flow-logs",
                "/aws/rds/instance/s-db/error",
            ]
        );
        let prefixes = n.log_group_prefixes();
        assert_eq!(
            prefixes,
            [
                "/moodle-ha/s/",
                "/aws/rds/instance/s-",
                "/aws/rds/cluster/s-",
                "aws-waf-logs-s"
            ]
        );
        for name in [
            n.flow_log_group(),
            n.waf_log_group(),
            Names::rds_instance_log_group(&n.db_instance(), "slowquery"),
            Names::rds_cluster_log_group(&n.db_cluster(), "error"),
        ] {
            assert!(
                prefixes.iter().any(|p| name.starts_with(p.as_str())),
                "{name} is listed"
            );
        }
    }
}
