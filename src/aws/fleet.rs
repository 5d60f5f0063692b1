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
}

impl Group {
    /// The instances not on their way out.
    pub fn live(&self) -> impl Iterator<Item = &Member> {
        self.members
            .iter()
            .filter(|m| !m.state.starts_with("Terminat") && m.state != "Detached")
    }
}

/// Reads group `name` (one DescribeAutoScalingGroups).
pub async fn group(aws: &Aws, name: &str) -> anyhow::Result<Group> {
    let out = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .with_context(|| format!("DescribeAutoScalingGroups {name}"))?;
    let Some(g) = out.auto_scaling_groups().first() else {
        bail!("the web group {name} does not exist");
    };
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
    })
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
