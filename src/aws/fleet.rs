//! The web group during a workflow (an upgrade, a rollback): its instances and capacity read
//! in one DescribeAutoScalingGroups, its processes suspended and resumed, capacity raised for
//! warm nodes and given back, old nodes terminated (their termination hook drains them).
//! Each call is idempotent: suspending a suspended process, setting a capacity already set or
//! terminating an instance already gone is done.

use super::Aws;
use super::errors::is_code;
use anyhow::{Context, bail};

/// The processes a workflow suspends while the fleet changes under its control: scaling
/// (alarms and schedules would undo the warm capacity), AZ rebalancing, and, inside the
/// maintenance window, health-check replacement (maintenance answers 503 on every node).
pub const WHILE_WARM: [&str; 3] = ["AlarmNotification", "ScheduledActions", "AZRebalance"];
/// Suspended while maintenance is on.
pub const WHILE_IN_MAINTENANCE: [&str; 2] = ["HealthCheck", "ReplaceUnhealthy"];
/// Every process a workflow suspends: all resumed when it ends.
pub const ANY_WORKFLOW: [&str; 5] = [
    WHILE_WARM[0],
    WHILE_WARM[1],
    WHILE_WARM[2],
    WHILE_IN_MAINTENANCE[0],
    WHILE_IN_MAINTENANCE[1],
];

/// One instance of the group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The instance ID.
    pub id: String,
    /// Its lifecycle state (`Pending:Wait`, `InService`, `Terminating` …).
    pub state: String,
    /// `Healthy` or `Unhealthy`.
    pub health: String,
}

/// The group as a workflow needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Its desired capacity.
    pub desired: u32,
    /// Its maximum size.
    pub max: u32,
    /// Its instances.
    pub members: Vec<Member>,
    /// The processes suspended now.
    pub suspended: Vec<String>,
    /// The target groups it registers its instances with.
    pub target_groups: Vec<String>,
    /// The launch template version new instances get (its mixed instances policy's).
    pub template_version: Option<String>,
}

impl Group {
    /// The instances not on their way out.
    pub fn live(&self) -> impl Iterator<Item = &Member> {
        self.members
            .iter()
            .filter(|m| !m.state.starts_with("Terminat") && m.state != "Detached")
    }
}

/// Group `name` as AWS describes it (one DescribeAutoScalingGroups).
async fn describe(
    aws: &Aws,
    name: &str,
) -> anyhow::Result<aws_sdk_autoscaling::types::AutoScalingGroup> {
    let out = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .with_context(|| format!("DescribeAutoScalingGroups {name}"))?;
    match out.auto_scaling_groups().first() {
        Some(g) => Ok(g.clone()),
        None => bail!("the web group {name} does not exist"),
    }
}

/// Reads group `name` (one DescribeAutoScalingGroups).
pub async fn group(aws: &Aws, name: &str) -> anyhow::Result<Group> {
    let g = &describe(aws, name).await?;
    let count = |n: Option<i32>, what: &str| {
        n.and_then(|n| u32::try_from(n).ok())
            .with_context(|| format!("DescribeAutoScalingGroups {name}: no {what}"))
    };
    Ok(Group {
        desired: count(g.desired_capacity(), "desired capacity")?,
        max: count(g.max_size(), "maximum size")?,
        members: g
            .instances()
            .iter()
            .filter_map(|i| {
                Some(Member {
                    id: i.instance_id()?.to_string(),
                    state: i.lifecycle_state().map(|s| s.as_str().to_string())?,
                    health: i.health_status().unwrap_or("Unknown").to_string(),
                })
            })
            .collect(),
        suspended: g
            .suspended_processes()
            .iter()
            .filter_map(|p| p.process_name().map(str::to_string))
            .collect(),
        target_groups: g.target_group_arns().to_vec(),
        template_version: template_spec(g).and_then(|t| t.version().map(str::to_string)),
    })
}

fn template_spec(
    g: &aws_sdk_autoscaling::types::AutoScalingGroup,
) -> Option<&aws_sdk_autoscaling::types::LaunchTemplateSpecification> {
    g.mixed_instances_policy()
        .and_then(|p| p.launch_template())
        .and_then(|t| t.launch_template_specification())
}

/// Points group `name`'s new instances at `version` of its launch template (the rest of its
/// mixed instances policy as it is: the instance types, the on-demand and Spot split). A
/// rollback puts back the version the group ran before an upgrade: the previous branch's
/// user data, which boots the previous release.
pub async fn set_template_version(aws: &Aws, name: &str, version: &str) -> anyhow::Result<()> {
    use aws_sdk_autoscaling::types::{LaunchTemplate, MixedInstancesPolicy};
    let g = &describe(aws, name).await?;
    let (Some(policy), Some(spec)) = (g.mixed_instances_policy(), template_spec(g)) else {
        bail!("the web group {name} has no mixed instances policy with a launch template");
    };
    if spec.version() == Some(version) {
        return Ok(());
    }
    let spec = aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
        .set_launch_template_id(spec.launch_template_id().map(str::to_string))
        // Either the ID or the name (AWS refuses both; the ID when it said it).
        .set_launch_template_name(
            spec.launch_template_id()
                .is_none()
                .then(|| spec.launch_template_name().map(str::to_string))
                .flatten(),
        )
        .version(version)
        .build();
    let template = LaunchTemplate::builder()
        .launch_template_specification(spec)
        .set_overrides(policy.launch_template().map(|t| t.overrides().to_vec()))
        .build();
    let policy = MixedInstancesPolicy::builder()
        .launch_template(template)
        .set_instances_distribution(policy.instances_distribution().cloned())
        .build();
    aws.autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .mixed_instances_policy(policy)
        .send()
        .await
        .with_context(|| {
            format!("UpdateAutoScalingGroup {name} (launch template version {version})")
        })?;
    Ok(())
}

/// Suspends `processes` of group `name`.
pub async fn suspend(aws: &Aws, name: &str, processes: &[&str]) -> anyhow::Result<()> {
    aws.autoscaling
        .suspend_processes()
        .auto_scaling_group_name(name)
        .set_scaling_processes(Some(processes.iter().map(|p| p.to_string()).collect()))
        .send()
        .await
        .with_context(|| format!("SuspendProcesses {} of {name}", processes.join(", ")))?;
    Ok(())
}

/// Resumes `processes` of group `name`.
pub async fn resume(aws: &Aws, name: &str, processes: &[&str]) -> anyhow::Result<()> {
    aws.autoscaling
        .resume_processes()
        .auto_scaling_group_name(name)
        .set_scaling_processes(Some(processes.iter().map(|p| p.to_string()).collect()))
        .send()
        .await
        .with_context(|| format!("ResumeProcesses {} of {name}", processes.join(", ")))?;
    Ok(())
}

/// Sets group `name`'s desired capacity and maximum size.
pub async fn set_capacity(aws: &Aws, name: &str, desired: u32, max: u32) -> anyhow::Result<()> {
    let n = |v: u32| i32::try_from(v).context("capacity out of range");
    aws.autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .max_size(n(max)?)
        .desired_capacity(n(desired)?)
        .send()
        .await
        .with_context(|| format!("UpdateAutoScalingGroup {name} (desired {desired}, max {max})"))?;
    Ok(())
}

/// Terminates `instance` through its group, lowering the desired capacity (the group does
/// not launch a replacement); its termination hook drains it first. An instance already gone
/// is done.
pub async fn retire(aws: &Aws, instance: &str) -> anyhow::Result<()> {
    let answer = aws
        .autoscaling
        .terminate_instance_in_auto_scaling_group()
        .instance_id(instance)
        .should_decrement_desired_capacity(true)
        .send()
        .await;
    match answer {
        Ok(_) => Ok(()),
        Err(e) if is_code(&e, "ValidationError") && e.to_string().contains("not found") => Ok(()),
        Err(e) => Err(e).with_context(|| format!("TerminateInstanceInAutoScalingGroup {instance}")),
    }
}

/// Each of `instances` with its health in target group `target_group` (`healthy`,
/// `unhealthy`, `draining` …; `unregistered` when the group does not list it): the load
/// balancer's health check is Moodle's login page, so `healthy` means the node serves it.
pub async fn target_health(
    aws: &Aws,
    target_group: &str,
    instances: &[String],
) -> anyhow::Result<Vec<(String, String)>> {
    let out = aws
        .elbv2
        .describe_target_health()
        .target_group_arn(target_group)
        .send()
        .await
        .with_context(|| format!("DescribeTargetHealth {target_group}"))?;
    Ok(instances
        .iter()
        .map(|id| {
            let state = out
                .target_health_descriptions()
                .iter()
                .find(|d| d.target().and_then(|t| t.id()) == Some(id.as_str()))
                .and_then(|d| d.target_health())
                .and_then(|h| h.state())
                .map_or("unregistered", |s| s.as_str());
            (id.clone(), state.to_string())
        })
        .collect())
}
