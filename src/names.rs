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

/// The key name of the stack bucket (`bucket/stack`).
pub const BUCKET: &str = "stack";

/// The stack bucket's prefix for the load balancer's access logs (ELB appends
/// `/AWSLogs/<account>/elasticloadbalancing/…`). Only this prefix expires.
pub const ACCESS_LOG_PREFIX: &str = "alb-access-logs";

/// The stack bucket's prefix for Moodle releases (never expired).
pub const RELEASES_PREFIX: &str = "releases/";

/// The stack bucket's prefix where the cron instance's agent puts each request's result,
/// `agent/results/<id>.json` (the CLI polls for it).
pub const AGENT_RESULTS_PREFIX: &str = "agent/results/";

/// The stack bucket's prefix where the agent puts each request's output while it runs,
/// `agent/output/<id>.log`.
pub const AGENT_OUTPUT_PREFIX: &str = "agent/output/";

/// The stack bucket's prefix where a web node reports, once its boot is done and it waits
/// for the site to be ready for its release, the commit it waits for: `nodes/<instance-id>`
/// (an upgrade's warm-capacity step waits for these).
pub const NODES_PREFIX: &str = "nodes/";

/// The AWS partition of `region` (`aws`, `aws-cn`, `aws-us-gov`), for ARNs.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

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

    /// The stack bucket in `account` and `region`: `moodle-ha-<stack>-<account>-<region>`.
    /// Bucket names are global, so the account and region make it unique; it follows S3's
    /// rules (3–63 lowercase letters, digits and hyphens, a letter or digit at both ends): a
    /// stack name has at most 24 characters, an account 12 and a region 14, so at most 62.
    /// A node computes the same name from its instance identity document.
    pub fn bucket(&self, account: &str, region: &str) -> String {
        format!("moodle-ha-{}-{account}-{region}", self.stack)
    }

    /// The web fleet's Auto Scaling group (and its launch template and target group).
    pub fn web_group(&self) -> String {
        format!("{}-web", self.stack)
    }

    /// The SSM parameter holding the release record every node reads at boot (beside the
    /// stack lock, `/moodle-ha/<stack>/lock`).
    pub fn release_parameter(&self) -> String {
        format!("/moodle-ha/{}/release", self.stack)
    }

    /// The SSM parameter through which the CLI asks the cron instance's agent to run a command
    /// (`{"id", "action", "commit"}`, one request at a time; see `userdata/agent.sh`).
    pub fn agent_parameter(&self) -> String {
        format!("/moodle-ha/{}/agent", self.stack)
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
                n.release_parameter(),
                n.agent_parameter(),
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
                "/moodle-ha/s/release",
                "/moodle-ha/s/agent",
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

    #[test]
    fn the_longest_bucket_name_is_a_valid_s3_name() {
        let name = Names::of("a23456789012345678901234").bucket("123456789012", "ap-southeast-5");
        assert_eq!(name.len(), 62);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        assert_eq!(
            Names::of("s").bucket("123456789012", "eu-west-1"),
            "moodle-ha-s-123456789012-eu-west-1"
        );
        assert_eq!(
            [
                partition("eu-west-1"),
                partition("cn-north-1"),
                partition("us-gov-west-1")
            ],
            ["aws", "aws-cn", "aws-us-gov"]
        );
    }
}
