//! The Auto Scaling adapter: the web fleet's group (mixed instances policy, capacity
//! rebalancing, target groups, termination lifecycle hook), its target-tracking policies and
//! scheduled actions. Groups are found with one tag-filtered, paginated describe; policies,
//! hooks and scheduled actions are read per group (their only form). A changed launch
//! template version is rolled out with an instance refresh.

use super::Aws;
use super::answer::{adopt_if_ours, required, text};
use super::ec2::resolve;
use super::errors::is_code;
use super::launch_templates;
use super::wait::{self, Poll};
use crate::executor::{Ids, Operation, Step};
use crate::model::{
    AutoScalingGroupProps, Kind, Props, Ref, ResourceKey, ScalingPolicyProps, ScheduledActionProps,
};
use crate::observed::{ObservedResource, Unknown};
use anyhow::{Context, bail};
use aws_sdk_autoscaling::types::{
    Filter, InstancesDistribution, LaunchTemplate, LaunchTemplateOverrides,
    LaunchTemplateSpecification, LifecycleHookSpecification, MetricType, MixedInstancesPolicy,
    PredefinedMetricSpecification, RefreshPreferences, Tag, TargetTrackingConfiguration,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Name of the termination lifecycle hook that lets a node drain.
pub use crate::names::DRAIN_HOOK;
/// Name of the launch lifecycle hook a node completes once it serves.
pub use crate::render::READY_HOOK;

fn count(n: Option<i32>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

/// The stack's groups with their policies and scheduled actions.
pub async fn observe(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let groups: Vec<_> = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .filters(
            Filter::builder()
                .name(format!("tag:{}", super::tags::STACK_TAG))
                .values(&aws.tags.stack)
                .build(),
        )
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeAutoScalingGroups")?;
    let mut out = Vec::new();
    for g in groups {
        let Some(key) = aws.tags.owner(g.tags()) else {
            continue;
        };
        if g.status().is_some_and(|s| s.starts_with("Delete")) {
            continue;
        }
        let name = text(g.auto_scaling_group_name());
        let policy = g.mixed_instances_policy();
        let spec = policy
            .and_then(|p| p.launch_template())
            .and_then(|t| t.launch_template_specification());
        let template_id = text(spec.and_then(|s| s.launch_template_id()));
        let version = text(spec.and_then(|s| s.version()));
        let (fingerprint, hooks, policies, actions) = tokio::try_join!(
            launch_templates::version_description(aws, &template_id, &version),
            async {
                aws.autoscaling
                    .describe_lifecycle_hooks()
                    .auto_scaling_group_name(&name)
                    .send()
                    .await
                    .context("DescribeLifecycleHooks")
            },
            async {
                let all: Vec<_> = aws
                    .autoscaling
                    .describe_policies()
                    .auto_scaling_group_name(&name)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .context("DescribePolicies")?;
                Ok::<_, anyhow::Error>(all)
            },
            async {
                let all: Vec<_> = aws
                    .autoscaling
                    .describe_scheduled_actions()
                    .auto_scaling_group_name(&name)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .context("DescribeScheduledActions")?;
                Ok::<_, anyhow::Error>(all)
            },
        )?;
        let (props, unknown) = map_group(&g, hooks.lifecycle_hooks(), template_id, fingerprint);
        out.push(ObservedResource {
            unknown,
            key,
            id: name.clone(),
            props,
            outputs: BTreeMap::new(),
        });
        let prefix = &aws.tags.stack;
        out.extend(policies.iter().filter_map(|p| map_policy(p, &name, prefix)));
        out.extend(actions.iter().filter_map(|a| map_action(a, &name, prefix)));
    }
    Ok(out)
}

/// The group as the model sees it, from DescribeAutoScalingGroups, its lifecycle hooks and its
/// launch template version's description (`fingerprint`). Pure.
pub fn map_group(
    g: &aws_sdk_autoscaling::types::AutoScalingGroup,
    hooks: &[aws_sdk_autoscaling::types::LifecycleHook],
    template_id: String,
    fingerprint: String,
) -> (Props, BTreeSet<String>) {
    let name = text(g.auto_scaling_group_name());
    let policy = g.mixed_instances_policy();
    let hook = |name: &str| {
        hooks
            .iter()
            .find(|h| h.lifecycle_hook_name() == Some(name))
            .map(|h| count(h.heartbeat_timeout()))
            .unwrap_or(0)
    };
    let drain = hook(DRAIN_HOOK);
    let ready = hook(READY_HOOK);
    let distribution = policy.and_then(|p| p.instances_distribution());
    let mut u = Unknown::default();
    let mut props = Props::AutoScalingGroup(AutoScalingGroupProps {
        name: name.clone(),
        launch_template: Ref::External(template_id),
        launch_template_version: fingerprint,
        min_size: u.count("min_size", g.min_size()),
        max_size: u.count("max_size", g.max_size()),
        desired_capacity: g.desired_capacity().and_then(|n| u32::try_from(n).ok()),
        subnets: g
            .vpc_zone_identifier()
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| Ref::External(s.trim().to_string()))
            .collect(),
        instance_types: u.or_default(
            "instance_types",
            policy.and_then(|p| p.launch_template()).map(|t| {
                t.overrides()
                    .iter()
                    .filter_map(|o| o.instance_type().map(str::to_string))
                    .collect()
            }),
        ),
        on_demand_base_capacity: u.count(
            "on_demand_base_capacity",
            distribution.and_then(|d| d.on_demand_base_capacity()),
        ),
        // AWS's default when unset is 100 (all on-demand).
        on_demand_percentage_above_base: distribution
            .and_then(|d| d.on_demand_percentage_above_base_capacity())
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(100),
        spot_allocation_strategy: distribution
            .and_then(|d| d.spot_allocation_strategy())
            .unwrap_or("lowest-price")
            .to_string(),
        capacity_rebalance: u.flag("capacity_rebalance", g.capacity_rebalance()),
        target_groups: g
            .target_group_arns()
            .iter()
            .map(|a| Ref::External(a.clone()))
            .collect(),
        health_check_type: u.text("health_check_type", g.health_check_type()),
        health_check_grace_seconds: u
            .count("health_check_grace_seconds", g.health_check_grace_period()),
        termination_drain_seconds: drain,
        launch_ready_seconds: ready,
        refresh_min_healthy_percent: 0,
    });
    props.normalize();
    (props, u.fields())
}

/// A target-tracking policy of the group `group` named for stack `stack`
/// (`<stack>-web-<suffix>`), from DescribePolicies; `None` for any other policy. Pure.
pub fn map_policy(
    p: &aws_sdk_autoscaling::types::ScalingPolicy,
    group: &str,
    stack: &str,
) -> Option<ObservedResource> {
    let policy_name = p.policy_name()?;
    let suffix = policy_name.strip_prefix(&format!("{stack}-web-"))?;
    let tracking = p.target_tracking_configuration();
    let metric = tracking.and_then(|t| t.predefined_metric_specification());
    // `app/<lb>/<id>/targetgroup/<tg>/<id>`: the target group part is the end of its ARN.
    let target_group = metric
        .and_then(|m| m.resource_label())
        .and_then(|l| l.find("targetgroup/").map(|i| l[i..].to_string()))
        .map(Ref::External);
    let mut u = Unknown::default();
    let props = Props::ScalingPolicy(ScalingPolicyProps {
        group: Ref::External(group.to_string()),
        name: policy_name.to_string(),
        metric: u.text(
            "metric",
            metric
                .and_then(|m| m.predefined_metric_type())
                .map(|m| m.as_str()),
        ),
        target_value: u.or_default("target_value", tracking.and_then(|t| t.target_value())),
        target_group,
        listener: None,
    });
    Some(ObservedResource {
        unknown: u.fields(),
        key: ResourceKey::new(Kind::ScalingPolicy, suffix),
        id: p.policy_arn().unwrap_or(policy_name).to_string(),
        props,
        outputs: BTreeMap::new(),
    })
}

/// A scheduled action of the group `group` named for stack `stack` (`<stack>-<name>`), from
/// DescribeScheduledActions; `None` for any other. Pure.
pub fn map_action(
    a: &aws_sdk_autoscaling::types::ScheduledUpdateGroupAction,
    group: &str,
    stack: &str,
) -> Option<ObservedResource> {
    let action_name = a.scheduled_action_name()?;
    let suffix = action_name.strip_prefix(&format!("{stack}-"))?;
    Some(ObservedResource {
        unknown: Default::default(),
        key: ResourceKey::new(Kind::ScheduledAction, suffix),
        id: action_name.to_string(),
        props: Props::ScheduledAction(ScheduledActionProps {
            group: Ref::External(group.to_string()),
            name: action_name.to_string(),
            recurrence: text(a.recurrence()),
            time_zone: a.time_zone().unwrap_or("UTC").to_string(),
            min_size: a.min_size().and_then(|n| u32::try_from(n).ok()),
            max_size: a.max_size().and_then(|n| u32::try_from(n).ok()),
            desired_capacity: a.desired_capacity().and_then(|n| u32::try_from(n).ok()),
        }),
        outputs: BTreeMap::new(),
    })
}

/// Carries out one planned step on the group, a policy or a scheduled action.
pub async fn execute(aws: &Aws, op: &Operation, ids: &Ids) -> anyhow::Result<Option<String>> {
    let change = &op.change;
    let id = change.id.clone().unwrap_or_default();
    match (op.step, change.desired.as_ref()) {
        (Step::Delete, _) => {
            delete(aws, change.key.kind, &id, change.observed.as_ref(), ids).await?;
            Ok(None)
        }
        (Step::Create, Some(Props::AutoScalingGroup(p))) => {
            create_group(aws, &change.key, p, ids).await.map(Some)
        }
        (Step::Update, Some(Props::AutoScalingGroup(p))) => {
            let before = match change.observed.as_ref() {
                Some(Props::AutoScalingGroup(b)) => Some(b),
                _ => None,
            };
            // With an upgrade the workflow's fleet switch replaces the nodes, not a refresh.
            let refresh = !change.fields.iter().any(|f| {
                f.field == "launch_template_version"
                    && f.applies == Some(crate::plan::Applies::UpgradeSwitch)
            });
            update_group(aws, p, before, ids, refresh).await?;
            Ok(None)
        }
        (Step::Create | Step::Update, Some(Props::ScalingPolicy(p))) => {
            put_policy(aws, p, ids).await.map(Some)
        }
        (Step::Create | Step::Update, Some(Props::ScheduledAction(p))) => {
            put_scheduled_action(aws, p, ids).await.map(Some)
        }
        (step, _) => bail!("{}: cannot {step:?} with these attributes", change.key),
    }
}

/// The mixed instances policy: the template at an explicit version, the instance types in
/// priority order, the on-demand floor and Spot for the rest.
async fn mixed_policy(
    aws: &Aws,
    p: &AutoScalingGroupProps,
    ids: &Ids,
) -> anyhow::Result<MixedInstancesPolicy> {
    let template_id = resolve(&p.launch_template, ids)?;
    let version =
        launch_templates::version_number(aws, &template_id, &p.launch_template_version).await?;
    Ok(MixedInstancesPolicy::builder()
        .launch_template(
            LaunchTemplate::builder()
                .launch_template_specification(
                    LaunchTemplateSpecification::builder()
                        .launch_template_id(template_id)
                        .version(version)
                        .build(),
                )
                .set_overrides(Some(
                    p.instance_types
                        .iter()
                        .map(|t| LaunchTemplateOverrides::builder().instance_type(t).build())
                        .collect(),
                ))
                .build(),
        )
        .instances_distribution(
            InstancesDistribution::builder()
                .on_demand_base_capacity(i32::try_from(p.on_demand_base_capacity)?)
                .on_demand_percentage_above_base_capacity(i32::try_from(
                    p.on_demand_percentage_above_base,
                )?)
                .spot_allocation_strategy(&p.spot_allocation_strategy)
                .build(),
        )
        .build())
}

fn subnets(p: &AutoScalingGroupProps, ids: &Ids) -> anyhow::Result<String> {
    Ok(p.subnets
        .iter()
        .map(|s| resolve(s, ids))
        .collect::<anyhow::Result<Vec<_>>>()?
        .join(","))
}

async fn create_group(
    aws: &Aws,
    key: &ResourceKey,
    p: &AutoScalingGroupProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    let tags: Vec<Tag> = aws
        .tags
        .for_resource(key)
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .propagate_at_launch(true)
                .build()
        })
        .collect();
    let target_groups = p
        .target_groups
        .iter()
        .map(|t| resolve(t, ids))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let created = aws
        .autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name(&p.name)
        .mixed_instances_policy(mixed_policy(aws, p, ids).await?)
        .min_size(i32::try_from(p.min_size)?)
        .max_size(i32::try_from(p.max_size)?)
        .set_desired_capacity(p.desired_capacity.map(i32::try_from).transpose()?)
        .vpc_zone_identifier(subnets(p, ids)?)
        .set_target_group_arns(Some(target_groups))
        .health_check_type(&p.health_check_type)
        .health_check_grace_period(i32::try_from(p.health_check_grace_seconds)?)
        .capacity_rebalance(p.capacity_rebalance)
        .lifecycle_hook_specification_list(
            LifecycleHookSpecification::builder()
                .lifecycle_hook_name(DRAIN_HOOK)
                .lifecycle_transition("autoscaling:EC2_INSTANCE_TERMINATING")
                .heartbeat_timeout(i32::try_from(p.termination_drain_seconds)?)
                .default_result("CONTINUE")
                .build(),
        )
        .lifecycle_hook_specification_list(
            LifecycleHookSpecification::builder()
                .lifecycle_hook_name(READY_HOOK)
                .lifecycle_transition("autoscaling:EC2_INSTANCE_LAUNCHING")
                .heartbeat_timeout(i32::try_from(p.launch_ready_seconds)?)
                .default_result("ABANDON")
                .build(),
        )
        .set_tags(Some(tags))
        .send()
        .await;
    match created {
        Ok(_) => Ok(p.name.clone()),
        // A resumed run: the group exists. Adopt it only if it is this stack's.
        Err(e) if is_code(&e, "AlreadyExists") => {
            let mine = observe(aws).await?;
            let owner = mine.iter().find(|r| r.id == p.name).map(|r| &r.key);
            adopt_if_ours(&aws.tags.stack, "Auto Scaling group", &p.name, key, owner)?;
            Ok(p.name.clone())
        }
        Err(e) => Err(e).context("CreateAutoScalingGroup"),
    }
}

/// Changes only what differs. A new launch template version is rolled out with an instance
/// refresh; `desired` is sent only when the spec manages it.
async fn update_group(
    aws: &Aws,
    p: &AutoScalingGroupProps,
    before: Option<&AutoScalingGroupProps>,
    ids: &Ids,
    refresh_on_new_template: bool,
) -> anyhow::Result<()> {
    let differs =
        |f: &dyn Fn(&AutoScalingGroupProps) -> String| before.is_none_or(|b| f(b) != f(p));
    let mut call = aws
        .autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(&p.name);
    let mut any = false;
    let policy_changed = differs(&|x| {
        format!(
            "{:?}{}{:?}{}{}{}",
            x.launch_template,
            x.launch_template_version,
            x.instance_types,
            x.on_demand_base_capacity,
            x.on_demand_percentage_above_base,
            x.spot_allocation_strategy
        )
    });
    if policy_changed {
        call = call.mixed_instances_policy(mixed_policy(aws, p, ids).await?);
        any = true;
    }
    if differs(&|x| x.min_size.to_string()) {
        call = call.min_size(i32::try_from(p.min_size)?);
        any = true;
    }
    if differs(&|x| x.max_size.to_string()) {
        call = call.max_size(i32::try_from(p.max_size)?);
        any = true;
    }
    if let Some(desired) = p.desired_capacity
        && differs(&|x| format!("{:?}", x.desired_capacity))
    {
        call = call.desired_capacity(i32::try_from(desired)?);
        any = true;
    }
    if differs(&|x| format!("{:?}", x.subnets)) {
        call = call.vpc_zone_identifier(subnets(p, ids)?);
        any = true;
    }
    if differs(&|x| x.health_check_type.clone()) {
        call = call.health_check_type(&p.health_check_type);
        any = true;
    }
    if differs(&|x| x.health_check_grace_seconds.to_string()) {
        call = call.health_check_grace_period(i32::try_from(p.health_check_grace_seconds)?);
        any = true;
    }
    if differs(&|x| x.capacity_rebalance.to_string()) {
        call = call.capacity_rebalance(p.capacity_rebalance);
        any = true;
    }
    if any {
        call.send().await.context("UpdateAutoScalingGroup")?;
    }
    if differs(&|x| format!("{:?}", x.target_groups)) {
        sync_target_groups(aws, p, before, ids).await?;
    }
    if differs(&|x| x.termination_drain_seconds.to_string()) {
        put_drain_hook(aws, p).await?;
    }
    if differs(&|x| x.launch_ready_seconds.to_string()) {
        put_ready_hook(aws, p).await?;
    }
    if refresh_on_new_template
        && before.is_some_and(|b| b.launch_template_version != p.launch_template_version)
    {
        refresh(aws, p).await?;
    }
    Ok(())
}

/// Attaches the desired target groups the group lacks and detaches the others.
async fn sync_target_groups(
    aws: &Aws,
    p: &AutoScalingGroupProps,
    before: Option<&AutoScalingGroupProps>,
    ids: &Ids,
) -> anyhow::Result<()> {
    let want = p
        .target_groups
        .iter()
        .map(|t| resolve(t, ids))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let have: Vec<String> = before
        .map(|b| {
            b.target_groups
                .iter()
                .filter_map(|t| resolve(t, ids).ok())
                .collect()
        })
        .unwrap_or_default();
    let attach: Vec<String> = want.iter().filter(|t| !have.contains(t)).cloned().collect();
    let detach: Vec<String> = have.iter().filter(|t| !want.contains(t)).cloned().collect();
    if !attach.is_empty() {
        aws.autoscaling
            .attach_load_balancer_target_groups()
            .auto_scaling_group_name(&p.name)
            .set_target_group_arns(Some(attach))
            .send()
            .await
            .context("AttachLoadBalancerTargetGroups")?;
    }
    if !detach.is_empty() {
        aws.autoscaling
            .detach_load_balancer_target_groups()
            .auto_scaling_group_name(&p.name)
            .set_target_group_arns(Some(detach))
            .send()
            .await
            .context("DetachLoadBalancerTargetGroups")?;
    }
    Ok(())
}

/// The termination hook: a leaving node may drain for `termination_drain_seconds`.
async fn put_drain_hook(aws: &Aws, p: &AutoScalingGroupProps) -> anyhow::Result<()> {
    let timeout = p.termination_drain_seconds;
    put_hook(aws, &p.name, DRAIN_HOOK, "TERMINATING", timeout, "CONTINUE").await
}

/// The launch hook: a new node stays out of service until its boot completes it (abandoned,
/// so replaced, after `launch_ready_seconds` without a heartbeat).
async fn put_ready_hook(aws: &Aws, p: &AutoScalingGroupProps) -> anyhow::Result<()> {
    let timeout = p.launch_ready_seconds;
    put_hook(aws, &p.name, READY_HOOK, "LAUNCHING", timeout, "ABANDON").await
}

/// Creates or updates lifecycle hook `name` of `group` on `autoscaling:EC2_INSTANCE_<transition>`.
async fn put_hook(
    aws: &Aws,
    group: &str,
    name: &str,
    transition: &str,
    timeout: u32,
    default: &str,
) -> anyhow::Result<()> {
    aws.autoscaling
        .put_lifecycle_hook()
        .auto_scaling_group_name(group)
        .lifecycle_hook_name(name)
        .lifecycle_transition(format!("autoscaling:EC2_INSTANCE_{transition}"))
        .heartbeat_timeout(i32::try_from(timeout)?)
        .default_result(default)
        .send()
        .await
        .context("PutLifecycleHook")?;
    Ok(())
}

/// Rolls the fleet onto the group's template version, keeping `refresh_min_healthy_percent`
/// of it in service; nodes already on it are skipped.
async fn refresh(aws: &Aws, p: &AutoScalingGroupProps) -> anyhow::Result<()> {
    let preferences = RefreshPreferences::builder()
        .min_healthy_percentage(i32::try_from(p.refresh_min_healthy_percent)?)
        .instance_warmup(i32::try_from(p.health_check_grace_seconds)?)
        .skip_matching(true)
        .build();
    let refresh_id = match start_refresh(aws, &p.name, &preferences).await {
        Ok(id) => id,
        // One refresh at a time: this one's own, started by an attempt whose answer was lost
        // (the SDK sent it again), or one a killed run left. Let it finish, then start again:
        // nodes already on the template version are skipped, so a second refresh after our own
        // replaces nothing.
        Err(e) if is_code(&e, "InstanceRefreshInProgress") => {
            let out = aws
                .autoscaling
                .describe_instance_refreshes()
                .auto_scaling_group_name(&p.name)
                .send()
                .await
                .context("DescribeInstanceRefreshes")?;
            let running = out
                .instance_refreshes()
                .iter()
                .find(|r| {
                    matches!(
                        r.status().map(|s| s.as_str()),
                        Some("Pending" | "InProgress" | "Cancelling" | "RollbackInProgress")
                    )
                })
                .and_then(|r| r.instance_refresh_id())
                .map(str::to_string);
            if let Some(running) = running {
                // Its outcome is not this run's: whichever it was, ours follows.
                let _ = wait_refresh(aws, p, &running).await;
            }
            start_refresh(aws, &p.name, &preferences)
                .await
                .context("StartInstanceRefresh")?
        }
        Err(e) => return Err(e).context("StartInstanceRefresh"),
    };
    wait_refresh(aws, p, &refresh_id).await
}

async fn start_refresh(
    aws: &Aws,
    group: &str,
    preferences: &RefreshPreferences,
) -> Result<
    String,
    aws_sdk_autoscaling::error::SdkError<
        aws_sdk_autoscaling::operation::start_instance_refresh::StartInstanceRefreshError,
    >,
> {
    let started = aws
        .autoscaling
        .start_instance_refresh()
        .auto_scaling_group_name(group)
        .preferences(preferences.clone())
        .send()
        .await?;
    Ok(text(started.instance_refresh_id()))
}

async fn wait_refresh(
    aws: &Aws,
    p: &AutoScalingGroupProps,
    refresh_id: &str,
) -> anyhow::Result<()> {
    wait::until(
        &aws.progress,
        &format!("instance refresh of {}", p.name),
        aws.wait_max(Duration::from_secs(2 * 60 * 60)),
        || async {
            let out = aws
                .autoscaling
                .describe_instance_refreshes()
                .auto_scaling_group_name(&p.name)
                .instance_refresh_ids(refresh_id)
                .send()
                .await
                .context("DescribeInstanceRefreshes")?;
            let Some(r) = out.instance_refreshes().first() else {
                return Ok(Poll::Failed("the refresh disappeared".into()));
            };
            let status = r.status().map(|s| s.as_str()).unwrap_or_default();
            Ok(match status {
                "Successful" => Poll::Ready,
                "Failed" | "Cancelled" | "RollbackFailed" | "RollbackSuccessful" => {
                    Poll::Failed(format!("{status}: {}", text(r.status_reason())))
                }
                _ => Poll::Pending(format!(
                    "{status} {}%",
                    r.percentage_complete().unwrap_or(0)
                )),
            })
        },
    )
    .await?;
    Ok(())
}

async fn put_policy(aws: &Aws, p: &ScalingPolicyProps, ids: &Ids) -> anyhow::Result<String> {
    let group = resolve(&p.group, ids)?;
    let mut metric = PredefinedMetricSpecification::builder()
        .predefined_metric_type(MetricType::from(p.metric.as_str()));
    if let Some(tg) = &p.target_group {
        metric = metric.resource_label(resource_label(aws, &resolve(tg, ids)?).await?);
    }
    let out = aws
        .autoscaling
        .put_scaling_policy()
        .auto_scaling_group_name(&group)
        .policy_name(&p.name)
        .policy_type("TargetTrackingScaling")
        .target_tracking_configuration(
            TargetTrackingConfiguration::builder()
                .predefined_metric_specification(metric.build())
                .target_value(p.target_value)
                .disable_scale_in(false)
                .build(),
        )
        .send()
        .await
        .context("PutScalingPolicy")?;
    required(out.policy_arn(), "PutScalingPolicy", "PolicyARN")
}

/// `app/<lb-name>/<lb-id>/targetgroup/<tg-name>/<tg-id>` for a target group ARN.
async fn resource_label(aws: &Aws, target_group_arn: &str) -> anyhow::Result<String> {
    let out = aws
        .elbv2
        .describe_target_groups()
        .target_group_arns(target_group_arn)
        .send()
        .await
        .context("DescribeTargetGroups")?;
    let lb_arn = out
        .target_groups()
        .first()
        .and_then(|t| t.load_balancer_arns().first())
        .context("the target group is not attached to a load balancer yet")?;
    let lb_part = lb_arn
        .split_once(":loadbalancer/")
        .map(|(_, p)| p)
        .context("unexpected load balancer ARN")?;
    let tg_part = target_group_arn
        .split_once(":targetgroup/")
        .map(|(_, p)| p)
        .context("unexpected target group ARN")?;
    Ok(format!("{lb_part}/targetgroup/{tg_part}"))
}

async fn put_scheduled_action(
    aws: &Aws,
    p: &ScheduledActionProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    let to_i32 = |n: Option<u32>| n.map(i32::try_from).transpose();
    aws.autoscaling
        .put_scheduled_update_group_action()
        .auto_scaling_group_name(resolve(&p.group, ids)?)
        .scheduled_action_name(&p.name)
        .recurrence(&p.recurrence)
        .time_zone(&p.time_zone)
        .set_min_size(to_i32(p.min_size)?)
        .set_max_size(to_i32(p.max_size)?)
        .set_desired_capacity(to_i32(p.desired_capacity)?)
        .send()
        .await
        .context("PutScheduledUpdateGroupAction")?;
    Ok(p.name.clone())
}

async fn delete(
    aws: &Aws,
    kind: Kind,
    id: &str,
    observed: Option<&Props>,
    ids: &Ids,
) -> anyhow::Result<()> {
    let gone = |e: &dyn aws_smithy_types::error::metadata::ProvideErrorMetadata| {
        e.code() == Some("ValidationError")
            && e.message()
                .is_some_and(|m| m.contains("not found") || m.contains("does not exist"))
    };
    match (kind, observed) {
        (Kind::AutoScalingGroup, _) => {
            match aws
                .autoscaling
                .delete_auto_scaling_group()
                .auto_scaling_group_name(id)
                .force_delete(true)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if gone(&e) => return Ok(()),
                Err(e) => return Err(e).context("DeleteAutoScalingGroup"),
            }
            wait::until(
                &aws.progress,
                &format!("auto-scaling-group {id} deletion"),
                aws.wait_max(Duration::from_secs(30 * 60)),
                || async {
                    let out = aws
                        .autoscaling
                        .describe_auto_scaling_groups()
                        .auto_scaling_group_names(id)
                        .send()
                        .await
                        .context("DescribeAutoScalingGroups")?;
                    Ok(match out.auto_scaling_groups().first() {
                        None => Poll::Ready,
                        Some(g) => Poll::Pending(g.status().unwrap_or("deleting").to_string()),
                    })
                },
            )
            .await?;
            Ok(())
        }
        (Kind::ScalingPolicy, Some(Props::ScalingPolicy(p))) => {
            let group = resolve(&p.group, ids).unwrap_or_default();
            match aws
                .autoscaling
                .delete_policy()
                .auto_scaling_group_name(group)
                .policy_name(&p.name)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if gone(&e) => Ok(()),
                Err(e) => Err(e).context("DeletePolicy"),
            }
        }
        (Kind::ScheduledAction, Some(Props::ScheduledAction(p))) => {
            let group = resolve(&p.group, ids).unwrap_or_default();
            match aws
                .autoscaling
                .delete_scheduled_action()
                .auto_scaling_group_name(group)
                .scheduled_action_name(&p.name)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if gone(&e) => Ok(()),
                Err(e) => Err(e).context("DeleteScheduledAction"),
            }
        }
        (other, _) => bail!("{other} is not an Auto Scaling resource"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Set;
    use aws_sdk_autoscaling::types::{
        AutoScalingGroup, InstancesDistribution, LaunchTemplate, LaunchTemplateOverrides,
        LifecycleHook, MixedInstancesPolicy, PredefinedMetricSpecification, ScalingPolicy,
        ScheduledUpdateGroupAction, TargetTrackingConfiguration,
    };

    fn group(policy: Option<MixedInstancesPolicy>) -> AutoScalingGroup {
        AutoScalingGroup::builder()
            .auto_scaling_group_name("s-web")
            .min_size(2)
            .max_size(8)
            .desired_capacity(4)
            .vpc_zone_identifier("subnet-b,subnet-a")
            .health_check_type("ELB")
            .health_check_grace_period(300)
            .capacity_rebalance(true)
            .set_mixed_instances_policy(policy)
            .target_group_arns("arn:tg")
            .build()
    }

    fn policy() -> MixedInstancesPolicy {
        MixedInstancesPolicy::builder()
            .launch_template(
                LaunchTemplate::builder()
                    .overrides(
                        LaunchTemplateOverrides::builder()
                            .instance_type("m7i.large")
                            .build(),
                    )
                    .overrides(
                        LaunchTemplateOverrides::builder()
                            .instance_type("c7i.large")
                            .build(),
                    )
                    .build(),
            )
            .instances_distribution(
                InstancesDistribution::builder()
                    .on_demand_base_capacity(1)
                    .on_demand_percentage_above_base_capacity(0)
                    .spot_allocation_strategy("price-capacity-optimized")
                    .build(),
            )
            .build()
    }

    #[test]
    fn a_group_maps_its_settings_and_hooks() {
        let hooks = [
            LifecycleHook::builder()
                .lifecycle_hook_name(DRAIN_HOOK)
                .heartbeat_timeout(150)
                .build(),
            LifecycleHook::builder()
                .lifecycle_hook_name(READY_HOOK)
                .heartbeat_timeout(1800)
                .build(),
        ];
        let (props, unknown) =
            map_group(&group(Some(policy())), &hooks, "lt-1".into(), "fp".into());
        let Props::AutoScalingGroup(p) = props else {
            panic!("not a group: {props:?}");
        };
        assert!(unknown.is_empty(), "{unknown:?}");
        assert_eq!(
            p.instance_types,
            ["m7i.large", "c7i.large"],
            "priority order kept"
        );
        assert_eq!(
            (p.min_size, p.max_size, p.desired_capacity),
            (2, 8, Some(4))
        );
        assert_eq!(
            (p.termination_drain_seconds, p.launch_ready_seconds),
            (150, 1800)
        );
        assert_eq!(
            p.subnets,
            Set::new([
                Ref::External("subnet-a".into()),
                Ref::External("subnet-b".into())
            ])
        );
        assert_eq!(p.on_demand_base_capacity, 1);
    }

    #[test]
    fn a_group_without_its_mixed_instances_policy_has_those_fields_unknown() {
        let (_, unknown) = map_group(&group(None), &[], "lt-1".into(), "fp".into());
        for field in ["instance_types", "on_demand_base_capacity"] {
            assert!(unknown.contains(field), "{field}: {unknown:?}");
        }
        assert!(!unknown.contains("min_size"));
    }

    #[test]
    fn only_the_stacks_policies_and_actions_are_mapped() {
        let cpu = ScalingPolicy::builder()
            .policy_name("s-web-cpu")
            .policy_arn("arn:policy")
            .target_tracking_configuration(
                TargetTrackingConfiguration::builder()
                    .predefined_metric_specification(
                        PredefinedMetricSpecification::builder()
                            .predefined_metric_type("ASGAverageCPUUtilization".into())
                            .build(),
                    )
                    .target_value(60.0)
                    .build(),
            )
            .build();
        let mapped = map_policy(&cpu, "s-web", "s").expect("the stack's policy");
        assert_eq!(mapped.key.to_string(), "scaling-policy/cpu");
        assert_eq!(mapped.id, "arn:policy");
        assert!(mapped.unknown.is_empty());
        let other = ScalingPolicy::builder().policy_name("other-cpu").build();
        assert!(map_policy(&other, "s-web", "s").is_none());
        let action = ScheduledUpdateGroupAction::builder()
            .scheduled_action_name("s-evening")
            .recurrence("0 19 * * *")
            .min_size(1)
            .build();
        let mapped = map_action(&action, "s-web", "s").expect("the stack's action");
        assert_eq!(mapped.key.to_string(), "scheduled-action/evening");
        let Props::ScheduledAction(a) = mapped.props else {
            panic!("not an action");
        };
        assert_eq!((a.min_size, a.time_zone.as_str()), (Some(1), "UTC"));
    }
}
