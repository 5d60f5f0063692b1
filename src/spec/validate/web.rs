//! Rules of `web`: the AMI, the Spot-friendly list of instance types, the fleet's sizes and
//! capacity mix, node settings, scaling, termination and refresh, scheduled actions.

use super::{AMI, Checker, INSTANCE_TYPE, arch_of};
use crate::spec::{ScheduledAction, Spec, Web};
use std::collections::{BTreeMap, BTreeSet};

re!(ACTION_NAME, r"^[A-Za-z0-9-]{1,64}$");
re!(PROFILE_NAME, r"^[\w+=,.@-]{1,128}$");

impl Checker<'_> {
    /// `web`: every rule group, in the order of the fields.
    pub(super) fn web(&mut self, spec: &Spec) {
        let w = &spec.web;
        self.pattern(
            "web.ami",
            &w.ami,
            &AMI,
            "an AMI ID (`ami-…`) or an SSM parameter (`ssm:/aws/service/…`)",
        );
        self.instance_types(w);
        self.fleet_sizes(w);
        self.capacity_mix(w);
        self.node_settings(w);
        self.scaling(w);
        self.termination_and_refresh(w, spec.load_balancer.deregistration_delay_seconds);
        self.scheduled_actions(w);
    }

    /// `instance_types`: 3–6 distinct EC2 types from at least two of the t, m and c
    /// families, all of one architecture.
    fn instance_types(&mut self, w: &Web) {
        let n = w.instance_types.len();
        if !(3..=6).contains(&n) {
            self.err(
                "web.instance_types",
                format!("list 3–6 instance types so Spot can find capacity, got {n}"),
            );
        }
        let mut families = BTreeSet::new();
        let mut arches: BTreeMap<&str, &str> = BTreeMap::new();
        for (i, t) in w.instance_types.iter().enumerate() {
            let path = format!("web.instance_types[{i}]");
            let Some(caps) = INSTANCE_TYPE.captures(t) else {
                self.err(
                    &path,
                    format!("`{t}` is not an EC2 instance type (e.g. `m7i.large`)"),
                );
                continue;
            };
            let class = caps.get(1).map_or("", |m| m.as_str());
            let family = &class[..1];
            if !["t", "m", "c"].contains(&family) {
                self.err(&path, format!("`{t}` is not in the t, m or c families"));
            } else {
                families.insert(family.to_string());
            }
            arches.entry(arch_of(class)).or_insert(t);
        }
        self.unique("web.instance_types", &w.instance_types, "instance type");
        if n >= 3 && families.len() < 2 {
            self.err("web.instance_types", "use at least two of the t, m and c families, so one family's Spot shortage cannot empty the fleet");
        }
        if arches.len() > 1 {
            let list: Vec<String> = arches.iter().map(|(a, t)| format!("{a} (`{t}`)")).collect();
            self.err(
                "web.instance_types",
                format!(
                    "mixes architectures {}; one AMI serves one architecture",
                    list.join(" and ")
                ),
            );
        }
    }

    /// `min`, `max` and `desired` agree, and `min` keeps two nodes for HA.
    fn fleet_sizes(&mut self, w: &Web) {
        if w.min > w.max {
            self.err(
                "web.min",
                format!("`min` ({}) must not exceed `max` ({})", w.min, w.max),
            );
        }
        if w.max == 0 {
            self.err("web.max", "must be at least 1");
        }
        if let Some(d) = w.desired
            && (d < w.min || d > w.max)
        {
            self.err(
                "web.desired",
                format!("must lie within min..max ({}..{}), got {d}", w.min, w.max),
            );
        }
        if w.min < 2 {
            self.warn(
                "web.min",
                "fewer than two web nodes: one Spot interruption takes the site down",
            );
        }
    }

    /// The On-Demand base within `max`, and a Spot majority above it.
    fn capacity_mix(&mut self, w: &Web) {
        if w.on_demand_base_capacity > w.max {
            self.err(
                "web.on_demand_base_capacity",
                format!(
                    "must not exceed `max` ({}), got {}",
                    w.max, w.on_demand_base_capacity
                ),
            );
        }
        self.range(
            "web.on_demand_percentage_above_base",
            w.on_demand_percentage_above_base,
            0,
            100,
            "",
        );
        if w.on_demand_percentage_above_base > 50 {
            self.warn(
                "web.on_demand_percentage_above_base",
                "the fleet is no longer Spot majority",
            );
        }
    }

    /// The health-check grace period (long enough for a bootstrap), root volume, instance
    /// profile name and IMDS hop limit.
    fn node_settings(&mut self, w: &Web) {
        self.range(
            "web.health_check_grace_period_seconds",
            w.health_check_grace_period_seconds,
            0,
            7200,
            "",
        );
        if w.health_check_grace_period_seconds < 120 {
            self.warn("web.health_check_grace_period_seconds", "shorter than a node's bootstrap: the group may replace nodes before they are ready");
        }
        self.range("web.root_volume_gib", w.root_volume_gib, 8, 16_384, "");
        if let Some(profile) = &w.instance_profile {
            self.pattern(
                "web.instance_profile",
                profile,
                &PROFILE_NAME,
                "an instance profile name",
            );
        }
        self.range("web.imds_hop_limit", w.imds_hop_limit, 1, 64, "");
    }

    /// `scaling`: at least one policy (warned about otherwise), each target in range.
    fn scaling(&mut self, w: &Web) {
        let s = &w.scaling;
        if s.cpu_target_percent.is_none() && s.requests_per_target.is_none() {
            self.warn(
                "web.scaling",
                "no scaling policy: the fleet stays at its desired size",
            );
        }
        if let Some(cpu) = s.cpu_target_percent {
            self.range("web.scaling.cpu_target_percent", cpu, 10, 90, "");
        }
        if let Some(rpt) = s.requests_per_target {
            self.range("web.scaling.requests_per_target", rpt, 1, 1_000_000, "");
        }
    }

    /// The termination drain (at least the load balancer's deregistration `delay`) and the
    /// instance refresh's healthy percentage.
    fn termination_and_refresh(&mut self, w: &Web, delay: u32) {
        self.range(
            "web.termination_drain_seconds",
            w.termination_drain_seconds,
            30,
            7200,
            "",
        );
        if w.termination_drain_seconds < delay {
            self.err(
                "web.termination_drain_seconds",
                format!(
                    "must be at least `load_balancer.deregistration_delay_seconds` ({delay}) so in-flight requests finish, got {}",
                    w.termination_drain_seconds
                ),
            );
        }
        self.range(
            "web.refresh_min_healthy_percent",
            w.refresh_min_healthy_percent,
            0,
            100,
            "",
        );
        if w.refresh_min_healthy_percent < 50 {
            self.warn(
                "web.refresh_min_healthy_percent",
                "a template change may take more than half the fleet out of service at once",
            );
        }
    }

    /// `scheduled_actions`: distinct names, then each action's own rules.
    fn scheduled_actions(&mut self, w: &Web) {
        let names = w.scheduled_actions.iter().map(|a| &a.name);
        self.unique("web.scheduled_actions", names, "action name");
        for (i, a) in w.scheduled_actions.iter().enumerate() {
            self.scheduled_action(&format!("web.scheduled_actions[{i}]"), a);
        }
    }

    /// One scheduled action: a valid name, a five-field recurrence, at least one size, and
    /// sizes that agree with each other.
    fn scheduled_action(&mut self, base: &str, a: &ScheduledAction) {
        self.pattern(
            &format!("{base}.name"),
            &a.name,
            &ACTION_NAME,
            "letters, digits and hyphens, at most 64",
        );
        if a.recurrence.split_whitespace().count() != 5 {
            self.err(
                &format!("{base}.recurrence"),
                format!("`{}` is not a five-field cron expression", a.recurrence),
            );
        }
        if a.min.is_none() && a.max.is_none() && a.desired.is_none() {
            self.err(base, "set at least one of `min`, `max`, `desired`");
        }
        if let (Some(lo), Some(hi)) = (a.min, a.max)
            && lo > hi
        {
            self.err(
                &format!("{base}.min"),
                format!("`min` ({lo}) must not exceed `max` ({hi})"),
            );
        }
        if let Some(d) = a.desired {
            let lo = a.min.unwrap_or(0);
            let hi = a.max.unwrap_or(u32::MAX);
            if d < lo || d > hi {
                self.err(
                    &format!("{base}.desired"),
                    format!("must lie within this action's min..max, got {d}"),
                );
            }
        }
    }
}
