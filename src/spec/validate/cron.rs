//! Rules of `cron`: the cron instance (type, AMI, volume, SSH access) and the site's own
//! cron jobs.

use super::{AMI, Checker, INSTANCE_TYPE, check_cidr};
use crate::spec::Spec;

impl Checker<'_> {
    /// `cron`: the instance's type, AMI, root volume and SSH CIDRs (warned about when open to
    /// the internet), then the jobs.
    pub(super) fn cron(&mut self, spec: &Spec) {
        let c = &spec.cron;
        self.pattern(
            "cron.instance_type",
            &c.instance_type,
            &INSTANCE_TYPE,
            "an EC2 instance type (e.g. `t3.large`)",
        );
        if let Some(ami) = &c.ami {
            self.pattern(
                "cron.ami",
                ami,
                &AMI,
                "an AMI ID (`ami-…`) or an SSM parameter (`ssm:/aws/service/…`)",
            );
        }
        self.range("cron.root_volume_gib", c.root_volume_gib, 8, 16_384, "");
        for (i, cidr) in c.ssh_cidrs.iter().enumerate() {
            let path = format!("cron.ssh_cidrs[{i}]");
            if check_cidr(self, &path, cidr) && cidr.ends_with("/0") {
                self.warn(
                    &path,
                    "SSH open to the whole internet; prefer SSM Session Manager",
                );
            }
        }
        self.unique("cron.ssh_cidrs", &c.ssh_cidrs, "CIDR");
        self.cron_jobs(spec);
    }

    /// `cron.jobs`: five-field schedules and one-line commands that cron will not mangle
    /// (no `%`) and that do not repeat Moodle's own cron entry.
    fn cron_jobs(&mut self, spec: &Spec) {
        for (i, job) in spec.cron.jobs.iter().enumerate() {
            let base = format!("cron.jobs[{i}]");
            if job.schedule.split_whitespace().count() != 5 {
                self.err(
                    &format!("{base}.schedule"),
                    format!("`{}` is not a five-field cron schedule", job.schedule),
                );
            }
            if job.command.trim().is_empty() || job.command.chars().any(char::is_control) {
                self.err(&format!("{base}.command"), "must be one line");
            } else if job.command.contains('%') {
                self.err(
                    &format!("{base}.command"),
                    "must not contain `%` (cron turns it into a newline); use a script",
                );
            } else if job.command.contains("admin/cli/cron.php") {
                self.err(
                    &format!("{base}.command"),
                    "Moodle's cron entry is always there, exactly once; do not add another",
                );
            }
        }
    }
}
