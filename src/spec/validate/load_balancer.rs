//! Rules of `load_balancer`: the certificate and TLS policy, who may reach the site, the
//! timeouts that must fit the Spot notice, the health check and stickiness.

use super::{Checker, check_cidr};
use crate::spec::{HealthCheck, LoadBalancer, Spec};

re!(
    ACM_ARN,
    r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):[0-9]{12}:certificate/[0-9a-f-]{36}$"
);
re!(MATCHER, r"^[0-9]{3}((-|,)[0-9]{3})*$");

impl Checker<'_> {
    /// `load_balancer`: every rule group, in the order of the fields.
    pub(super) fn load_balancer(&mut self, spec: &Spec) {
        let lb = &spec.load_balancer;
        self.certificate_and_policy(lb, &spec.region);
        self.ingress_cidrs(lb);
        self.load_balancer_timeouts(lb);
        self.health_check(&lb.health_check);
        self.range(
            "load_balancer.stickiness.duration_seconds",
            lb.stickiness.duration_seconds,
            1,
            604_800,
            "",
        );
        self.range(
            "load_balancer.access_logs.expire_days",
            lb.access_logs.expire_days,
            1,
            3650,
            "",
        );
        if let Some(waf) = &lb.waf {
            self.range(
                "load_balancer.waf.rate_limit_per_5_minutes",
                waf.rate_limit_per_5_minutes,
                100,
                2_000_000_000,
                "",
            );
        }
    }

    /// An ACM certificate ARN in the stack's region and an ELB security policy.
    fn certificate_and_policy(&mut self, lb: &LoadBalancer, region: &str) {
        if let Some(caps) = ACM_ARN.captures(&lb.certificate_arn) {
            if caps[1] != *region {
                self.err(
                    "load_balancer.certificate_arn",
                    format!(
                        "the certificate is in `{}`; the load balancer needs one in `{}`",
                        &caps[1], region
                    ),
                );
            }
        } else {
            self.err(
                "load_balancer.certificate_arn",
                format!("`{}` is not an ACM certificate ARN", lb.certificate_arn),
            );
        }
        if !lb.ssl_policy.starts_with("ELBSecurityPolicy-") {
            self.err(
                "load_balancer.ssl_policy",
                format!(
                    "`{}` is not an ELB security policy (`ELBSecurityPolicy-…`)",
                    lb.ssl_policy
                ),
            );
        }
    }

    /// `ingress_cidrs`: at least one, each a CIDR block, no duplicates.
    fn ingress_cidrs(&mut self, lb: &LoadBalancer) {
        if lb.ingress_cidrs.is_empty() {
            self.err(
                "load_balancer.ingress_cidrs",
                "at least one CIDR must reach the site",
            );
        }
        for (i, cidr) in lb.ingress_cidrs.iter().enumerate() {
            check_cidr(self, &format!("load_balancer.ingress_cidrs[{i}]"), cidr);
        }
        self.unique("load_balancer.ingress_cidrs", &lb.ingress_cidrs, "CIDR");
    }

    /// The deregistration delay (inside the two-minute Spot notice) and the idle timeout.
    fn load_balancer_timeouts(&mut self, lb: &LoadBalancer) {
        self.range(
            "load_balancer.deregistration_delay_seconds",
            lb.deregistration_delay_seconds,
            60,
            120,
            "in-flight requests must finish inside the two-minute Spot notice",
        );
        self.range(
            "load_balancer.idle_timeout_seconds",
            lb.idle_timeout_seconds,
            1,
            4000,
            "",
        );
    }

    /// `health_check`: an absolute path, ranges, a timeout shorter than the interval, and a
    /// matcher of HTTP codes (warned about when it accepts redirects).
    fn health_check(&mut self, hc: &HealthCheck) {
        if !hc.path.starts_with('/') {
            self.err(
                "load_balancer.health_check.path",
                format!("`{}` must start with `/`", hc.path),
            );
        }
        self.range(
            "load_balancer.health_check.interval_seconds",
            hc.interval_seconds,
            5,
            300,
            "",
        );
        self.range(
            "load_balancer.health_check.healthy_threshold",
            hc.healthy_threshold,
            2,
            10,
            "",
        );
        self.range(
            "load_balancer.health_check.unhealthy_threshold",
            hc.unhealthy_threshold,
            2,
            10,
            "",
        );
        self.range(
            "load_balancer.health_check.timeout_seconds",
            hc.timeout_seconds,
            2,
            120,
            "",
        );
        if hc.timeout_seconds >= hc.interval_seconds {
            self.err(
                "load_balancer.health_check.timeout_seconds",
                "must be shorter than `interval_seconds`",
            );
        }
        if self.pattern(
            "load_balancer.health_check.matcher",
            &hc.matcher,
            &MATCHER,
            "HTTP codes like `200` or `200-299`",
        ) && hc
            .matcher
            .split([',', '-'])
            .any(|code| code.starts_with('3'))
        {
            self.warn("load_balancer.health_check.matcher", "accepts redirects: a node then passes without proving PHP, database and Redis work");
        }
    }
}
