//! `--only <part>`: a plan limited to one part of the spec. `web.scaling` keeps the scaling
//! policies, scheduled actions and the group's size fields (min, max, desired) and nothing
//! else, so a scaling change can never touch the database, cache or file system.

use super::{Action, Plan};
use crate::model::{Kind, Props};
use serde_json::Value;

/// The parts `--only` accepts, with the kinds each covers.
pub const PARTS: &[(&str, &[Kind])] = &[
    (
        "network",
        &[
            Kind::Vpc,
            Kind::Subnet,
            Kind::InternetGateway,
            Kind::ElasticIp,
            Kind::NatGateway,
            Kind::RouteTable,
            Kind::SecurityGroup,
            Kind::SecurityGroupRules,
            Kind::LogGroup,
            Kind::FlowLog,
        ],
    ),
    (
        "database",
        &[
            Kind::DbSubnetGroup,
            Kind::DbParameterGroup,
            Kind::DbClusterParameterGroup,
            Kind::DbCluster,
            Kind::DbInstance,
            Kind::LogGroup,
        ],
    ),
    ("file_storage", &[Kind::FileSystem, Kind::MountTarget]),
    (
        "cache",
        &[Kind::CacheSubnetGroup, Kind::ReplicationGroup, Kind::Secret],
    ),
    (
        "load_balancer",
        &[
            Kind::Bucket,
            Kind::WebAcl,
            Kind::LogGroup,
            Kind::LoadBalancer,
            Kind::TargetGroup,
            Kind::Listener,
        ],
    ),
    (
        "web",
        &[
            Kind::IamRole,
            Kind::InstanceProfile,
            Kind::LaunchTemplate,
            Kind::AutoScalingGroup,
            Kind::ScalingPolicy,
            Kind::ScheduledAction,
            Kind::Release,
        ],
    ),
    (
        "web.scaling",
        &[
            Kind::AutoScalingGroup,
            Kind::ScalingPolicy,
            Kind::ScheduledAction,
        ],
    ),
];

/// The group fields `web.scaling` may change.
const SIZE_FIELDS: &[&str] = &["min_size", "max_size", "desired_capacity"];

/// The plan limited to `part`; an unknown part is an error naming the valid ones.
pub fn select(plan: &Plan, part: &str) -> Result<Plan, String> {
    let Some((_, kinds)) = PARTS.iter().find(|(name, _)| *name == part) else {
        let names: Vec<&str> = PARTS.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "`--only {part}`: not a part of the spec; use one of {}",
            names.join(", ")
        ));
    };
    let mut out = plan.clone();
    out.only = Some(part.to_string());
    out.changes = plan
        .changes
        .iter()
        .filter(|c| kinds.contains(&c.key.kind))
        .filter_map(|c| {
            if part != "web.scaling" || c.key.kind != Kind::AutoScalingGroup {
                return Some(c.clone());
            }
            // Only the group's size, applied on top of what AWS has now.
            if c.action != Action::Update {
                return None;
            }
            let mut limited = c.clone();
            limited
                .fields
                .retain(|f| SIZE_FIELDS.contains(&f.field.as_str()));
            if limited.fields.is_empty() {
                return None;
            }
            let (Some(observed), Some(_)) = (&c.observed, &c.desired) else {
                return None;
            };
            let mut merged = serde_json::to_value(observed).ok()?;
            for f in &limited.fields {
                merged[&f.field] = f.after.clone();
            }
            // Directives (e.g. the refresh percentage) are the spec's, not AWS's.
            if let (Value::Object(m), Some(Ok(Value::Object(d)))) =
                (&mut merged, c.desired.as_ref().map(serde_json::to_value))
            {
                for name in c.key.kind.directives() {
                    if let Some(v) = d.get(*name) {
                        m.insert((*name).to_string(), v.clone());
                    }
                }
            }
            limited.desired = serde_json::from_value::<Props>(merged).ok();
            limited.desired.as_ref()?;
            Some(limited)
        })
        .collect();
    Ok(out)
}
