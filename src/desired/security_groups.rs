//! The stack's security groups and their least-privilege rules (a separate resource per
//! group, so groups can refer to each other).

use super::Part;
use crate::model::{
    Kind, Props, Ref, Rule, RuleSource, SecurityGroupProps, SecurityGroupRulesProps, Set,
};
use crate::spec::Spec;
use std::collections::BTreeMap;

/// The security groups of a stack and what each one is for.
pub const SECURITY_GROUPS: &[(&str, &str)] = &[
    (
        "alb",
        "load balancer: HTTP and HTTPS from the allowed CIDRs",
    ),
    ("web", "web fleet: HTTP from the load balancer only"),
    ("cron", "cron instance: no inbound traffic"),
    ("db", "database: MySQL from web and cron only"),
    ("redis", "cache: Redis from web and cron only"),
    ("efs", "file system: NFS from web and cron only"),
];

/// The six groups in `vpc` and the complete rules of each.
pub(super) fn security_groups(spec: &Spec, vpc: &Ref) -> Part {
    let mut out = Part::default();
    for (role, purpose) in SECURITY_GROUPS {
        out.add(
            Kind::SecurityGroup,
            role,
            Props::SecurityGroup(SecurityGroupProps {
                vpc: vpc.clone(),
                group_name: format!("{}-{role}", spec.name),
                description: format!("moodle-ha {} {purpose}", spec.name),
            }),
        );
    }
    let sg = |role: &str| RuleSource::Group(Ref::to(Kind::SecurityGroup, role));
    let tcp = |port: i32, peer: RuleSource, description: &str| Rule {
        protocol: "tcp".into(),
        from_port: port,
        to_port: port,
        peer,
        description: description.into(),
    };
    let all_out = |description: &str| Rule {
        protocol: "-1".into(),
        from_port: -1,
        to_port: -1,
        peer: RuleSource::Cidr("0.0.0.0/0".into()),
        description: description.into(),
    };
    let mut rules: BTreeMap<&str, (Vec<Rule>, Vec<Rule>)> = BTreeMap::new();
    let mut alb_in = Vec::new();
    for cidr in &spec.load_balancer.ingress_cidrs {
        alb_in.push(tcp(
            443,
            RuleSource::Cidr(cidr.clone()),
            "HTTPS from clients",
        ));
        alb_in.push(tcp(
            80,
            RuleSource::Cidr(cidr.clone()),
            "HTTP from clients (redirected to HTTPS)",
        ));
    }
    rules.insert(
        "alb",
        (alb_in, vec![tcp(80, sg("web"), "to the web fleet")]),
    );
    rules.insert(
        "web",
        (
            vec![tcp(80, sg("alb"), "HTTP from the load balancer")],
            vec![all_out("packages, code, AWS APIs, mail, data tier")],
        ),
    );
    let ssh: Vec<Rule> = spec
        .cron
        .ssh_cidrs
        .iter()
        .map(|c| tcp(22, RuleSource::Cidr(c.clone()), "SSH from admins"))
        .collect();
    rules.insert(
        "cron",
        (
            ssh,
            vec![all_out("packages, code, AWS APIs, mail, data tier")],
        ),
    );
    for (role, port, what) in [
        ("db", 3306, "MySQL"),
        ("redis", 6379, "Redis"),
        ("efs", 2049, "NFS"),
    ] {
        let ingress = vec![
            tcp(port, sg("web"), &format!("{what} from the web fleet")),
            tcp(port, sg("cron"), &format!("{what} from cron")),
        ];
        rules.insert(role, (ingress, Vec::new()));
    }
    for (role, (ingress, egress)) in rules {
        let mut props = Props::SecurityGroupRules(SecurityGroupRulesProps {
            group: Ref::to(Kind::SecurityGroup, role),
            ingress: Set::new(ingress),
            egress: Set::new(egress),
        });
        props.normalize();
        out.add(Kind::SecurityGroupRules, role, props);
    }

    out
}
