//! The Elastic Load Balancing v2 adapter: the application load balancer, the web target group
//! and the two listeners. Describes have no tag filter: names carrying the stack's prefix are
//! confirmed with one DescribeTags per 20 ARNs. Attributes (idle timeout, deregistration
//! delay, stickiness) have no batch form and are read per resource.

use super::Aws;
use super::answer::text;
use super::ec2::resolve;
use super::errors::{is_code, tolerate};
use super::wait::{self, Poll};
use crate::executor::{Ids, Operation, Step};
use crate::model::{
    Kind, ListenerAction, ListenerProps, LoadBalancerProps, Props, Ref, ResourceKey, Set,
    TargetGroupProps,
};
use crate::observed::{ObservedResource, Unknown};
use anyhow::{Context, bail};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, IpAddressType, LoadBalancerAttribute,
    LoadBalancerSchemeEnum, LoadBalancerTypeEnum, Matcher, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum, Tag, TargetGroupAttribute, TargetTypeEnum,
};
use std::collections::BTreeMap;
use std::time::Duration;

fn tags(aws: &Aws, key: &ResourceKey) -> Vec<Tag> {
    aws.tags
        .for_resource(key)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The stack's keys of `arns`, from their tags (one call per 20 ARNs).
async fn owned(aws: &Aws, arns: Vec<String>) -> anyhow::Result<BTreeMap<String, ResourceKey>> {
    let mut out = BTreeMap::new();
    for chunk in arns.chunks(20) {
        let answer = aws
            .elbv2
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .context("DescribeTags")?;
        for d in answer.tag_descriptions() {
            let key = aws.tags.owner(d.tags());
            if let (Some(arn), Some(key)) = (d.resource_arn(), key) {
                out.insert(arn.to_string(), key);
            }
        }
    }
    Ok(out)
}

fn prefixed(aws: &Aws, name: Option<&str>) -> bool {
    name.is_some_and(|n| n.starts_with(&format!("{}-", aws.tags.stack)))
}

/// The stack's load balancers (with their listeners) and target groups.
pub async fn observe(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let (balancers, groups) = tokio::try_join!(observe_balancers(aws), observe_target_groups(aws))?;
    Ok(balancers.into_iter().chain(groups).collect())
}

async fn observe_balancers(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let all: Vec<_> = aws
        .elbv2
        .describe_load_balancers()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeLoadBalancers")?;
    let candidates: Vec<_> = all
        .into_iter()
        .filter(|lb| prefixed(aws, lb.load_balancer_name()) && lb.load_balancer_arn().is_some())
        .collect();
    let arns: Vec<String> = candidates
        .iter()
        .map(|lb| text(lb.load_balancer_arn()))
        .collect();
    // Ownership (tags), attributes and listeners of the name-prefixed candidates at once: one
    // round trip; what turns out not to be the stack's is dropped.
    let details = futures::future::try_join_all(arns.iter().map(|arn| async move {
        tokio::try_join!(
            async {
                aws.elbv2
                    .describe_load_balancer_attributes()
                    .load_balancer_arn(arn)
                    .send()
                    .await
                    .context("DescribeLoadBalancerAttributes")
            },
            observe_listeners(aws, arn)
        )
    }));
    let (keys, details) = tokio::try_join!(owned(aws, arns.clone()), details)?;
    let mut out = Vec::new();
    for (lb, (attributes, listeners)) in candidates.into_iter().zip(details) {
        let arn = text(lb.load_balancer_arn());
        let Some(key) = keys.get(&arn).cloned() else {
            continue;
        };
        out.push(map_load_balancer(&lb, attributes.attributes(), key));
        out.extend(listeners);
    }
    Ok(out)
}

/// The load balancer as the model sees it, from DescribeLoadBalancers and its attributes, with
/// its DNS name and zone as outputs; what the answers lack is unknown. Pure.
pub fn map_load_balancer(
    lb: &aws_sdk_elasticloadbalancingv2::types::LoadBalancer,
    attributes: &[aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute],
    key: ResourceKey,
) -> ObservedResource {
    let arn = text(lb.load_balancer_arn());
    let mut u = Unknown::default();
    let attribute = |key: &str| {
        attributes
            .iter()
            .find(|a| a.key() == Some(key))
            .and_then(|a| a.value())
    };
    let flag = |key: &str| attribute(key).and_then(|v| v.parse::<bool>().ok());
    let idle = u.or_default(
        "idle_timeout_seconds",
        attribute("idle_timeout.timeout_seconds").and_then(|v| v.parse().ok()),
    );
    let drop_invalid = u.flag(
        "drop_invalid_header_fields",
        flag("routing.http.drop_invalid_header_fields.enabled"),
    );
    let desync = u.text(
        "desync_mitigation_mode",
        attribute("routing.http.desync_mitigation_mode"),
    );
    let deletion_protection = u.flag("deletion_protection", flag("deletion_protection.enabled"));
    // Access logs: the bucket only while they are on (the bucket attribute may linger after).
    let logs_on = flag("access_logs.s3.enabled");
    if logs_on.is_none() {
        u.missing("access_logs_bucket");
    }
    let access_logs_bucket = attribute("access_logs.s3.bucket")
        .filter(|b| logs_on == Some(true) && !b.is_empty())
        .map(|b| Ref::External(b.to_string()));
    let access_logs_prefix = attribute("access_logs.s3.prefix")
        .unwrap_or_default()
        .to_string();
    let mut props = Props::LoadBalancer(LoadBalancerProps {
        name: text(lb.load_balancer_name()),
        scheme: u.text("scheme", lb.scheme().map(|s| s.as_str())),
        subnets: lb
            .availability_zones()
            .iter()
            .filter_map(|z| z.subnet_id())
            .map(|s| Ref::External(s.to_string()))
            .collect(),
        security_groups: lb
            .security_groups()
            .iter()
            .map(|g| Ref::External(g.clone()))
            .collect(),
        idle_timeout_seconds: idle,
        drop_invalid_header_fields: drop_invalid,
        desync_mitigation_mode: desync,
        deletion_protection,
        access_logs_bucket,
        access_logs_prefix,
    });
    props.normalize();
    let mut outputs = BTreeMap::new();
    outputs.insert("load_balancer.dns_name".into(), text(lb.dns_name()));
    outputs.insert(
        "load_balancer.zone_id".into(),
        text(lb.canonical_hosted_zone_id()),
    );
    ObservedResource {
        unknown: u.fields(),
        key,
        id: arn.clone(),
        props,
        outputs,
    }
}

async fn observe_listeners(aws: &Aws, lb_arn: &str) -> anyhow::Result<Vec<ObservedResource>> {
    let listeners: Vec<_> = aws
        .elbv2
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeListeners")?;
    let keys = owned(
        aws,
        listeners
            .iter()
            .filter_map(|l| l.listener_arn().map(str::to_string))
            .collect(),
    )
    .await?;
    let mut out = Vec::new();
    for l in listeners {
        let arn = text(l.listener_arn());
        let Some(key) = keys.get(&arn).cloned() else {
            continue;
        };
        out.push(map_listener(&l, lb_arn, key));
    }
    Ok(out)
}

/// A listener of load balancer `lb_arn` as the model sees it, from DescribeListeners: its
/// protocol, port, certificate, TLS policy and default action (forward or redirect). Pure.
pub fn map_listener(
    l: &aws_sdk_elasticloadbalancingv2::types::Listener,
    lb_arn: &str,
    key: ResourceKey,
) -> ObservedResource {
    let arn = text(l.listener_arn());
    let mut u = Unknown::default();
    let action = l.default_actions().first();
    if action.is_none() {
        u.missing("action");
    }
    let action = match action.and_then(|a| a.r#type()) {
        Some(ActionTypeEnum::Redirect) => {
            let r = action.and_then(|a| a.redirect_config());
            ListenerAction::Redirect {
                protocol: text(r.and_then(|r| r.protocol())),
                port: text(r.and_then(|r| r.port())),
                status_code: r
                    .and_then(|r| r.status_code())
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default(),
            }
        }
        _ => ListenerAction::Forward {
            target_group: Ref::External(text(action.and_then(|a| a.target_group_arn()))),
        },
    };
    let protocol = u.text("protocol", l.protocol().map(|p| p.as_str()));
    let port = u.count("port", l.port());
    ObservedResource {
        unknown: u.fields(),
        key,
        id: arn,
        props: Props::Listener(ListenerProps {
            load_balancer: Ref::External(lb_arn.to_string()),
            protocol,
            port,
            certificate_arn: l
                .certificates()
                .first()
                .and_then(|c| c.certificate_arn())
                .map(str::to_string),
            ssl_policy: l.ssl_policy().map(str::to_string),
            action,
        }),
        outputs: BTreeMap::new(),
    }
}

async fn observe_target_groups(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let all: Vec<_> = aws
        .elbv2
        .describe_target_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeTargetGroups")?;
    let candidates: Vec<_> = all
        .into_iter()
        .filter(|tg| prefixed(aws, tg.target_group_name()) && tg.target_group_arn().is_some())
        .collect();
    let arns: Vec<String> = candidates
        .iter()
        .map(|tg| text(tg.target_group_arn()))
        .collect();
    // Ownership and attributes at once (one round trip).
    let attributes = futures::future::try_join_all(arns.iter().map(|arn| async move {
        aws.elbv2
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .context("DescribeTargetGroupAttributes")
    }));
    let (keys, attributes) = tokio::try_join!(owned(aws, arns.clone()), attributes)?;
    let mut out = Vec::new();
    for (tg, attributes) in candidates.into_iter().zip(attributes) {
        let arn = text(tg.target_group_arn());
        let Some(key) = keys.get(&arn).cloned() else {
            continue;
        };
        out.push(map_target_group(&tg, attributes.attributes(), key));
    }
    Ok(out)
}

/// The target group as the model sees it, from DescribeTargetGroups and its attributes
/// (DescribeTargetGroupAttributes); what the answers lack is unknown. Pure.
pub fn map_target_group(
    tg: &aws_sdk_elasticloadbalancingv2::types::TargetGroup,
    attributes: &[aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute],
    key: ResourceKey,
) -> ObservedResource {
    let arn = text(tg.target_group_arn());
    // AWS answers attribute values as strings.
    let attribute = |name: &str| {
        attributes
            .iter()
            .find(|a| a.key() == Some(name))
            .and_then(|a| a.value())
    };
    let mut u = Unknown::default();
    let props = Props::TargetGroup(TargetGroupProps {
        name: text(tg.target_group_name()),
        protocol: u.text("protocol", tg.protocol().map(|p| p.as_str())),
        port: u.count("port", tg.port()),
        vpc: Ref::External(u.text("vpc", tg.vpc_id())),
        target_type: u.text("target_type", tg.target_type().map(|t| t.as_str())),
        health_check_path: u.text("health_check_path", tg.health_check_path()),
        health_check_interval_seconds: u.count(
            "health_check_interval_seconds",
            tg.health_check_interval_seconds(),
        ),
        health_check_timeout_seconds: u.count(
            "health_check_timeout_seconds",
            tg.health_check_timeout_seconds(),
        ),
        healthy_threshold: u.count("healthy_threshold", tg.healthy_threshold_count()),
        unhealthy_threshold: u.count("unhealthy_threshold", tg.unhealthy_threshold_count()),
        matcher: u.text("matcher", tg.matcher().and_then(|m| m.http_code())),
        deregistration_delay_seconds: u.or_default(
            "deregistration_delay_seconds",
            attribute("deregistration_delay.timeout_seconds").and_then(|v| v.parse().ok()),
        ),
        stickiness_enabled: u.or_default(
            "stickiness_enabled",
            attribute("stickiness.enabled").and_then(|v| v.parse().ok()),
        ),
        stickiness_duration_seconds: u.or_default(
            "stickiness_duration_seconds",
            attribute("stickiness.lb_cookie.duration_seconds").and_then(|v| v.parse().ok()),
        ),
    });
    ObservedResource {
        unknown: u.fields(),
        key,
        id: arn.clone(),
        props,
        outputs: BTreeMap::from([("target_group.arn".to_string(), arn)]),
    }
}

/// Carries out one planned step on a load balancer, target group or listener.
pub async fn execute(aws: &Aws, op: &Operation, ids: &Ids) -> anyhow::Result<Option<String>> {
    let change = &op.change;
    let id = change.id.clone().unwrap_or_default();
    match (op.step, change.desired.as_ref()) {
        (Step::Delete, _) => {
            // Deletion protection is lifted first; the CLI plans a protected load balancer's
            // deletion only with `--disable-deletion-protection`.
            if change
                .observed
                .as_ref()
                .is_some_and(Props::deletion_protection)
            {
                aws.elbv2
                    .modify_load_balancer_attributes()
                    .load_balancer_arn(&id)
                    .attributes(
                        LoadBalancerAttribute::builder()
                            .key("deletion_protection.enabled")
                            .value("false")
                            .build(),
                    )
                    .send()
                    .await
                    .context("ModifyLoadBalancerAttributes (deletion protection off)")?;
            }
            delete(aws, change.key.kind, &id).await?;
            Ok(None)
        }
        (Step::Create, Some(Props::LoadBalancer(p))) => {
            create_balancer(aws, &change.key, p, ids).await.map(Some)
        }
        (Step::Update, Some(Props::LoadBalancer(p))) => {
            update_balancer(aws, &id, p, ids).await?;
            Ok(None)
        }
        (Step::Create, Some(Props::TargetGroup(p))) => {
            create_target_group(aws, &change.key, p, ids)
                .await
                .map(Some)
        }
        (Step::Update, Some(Props::TargetGroup(p))) => {
            update_target_group(aws, &id, p).await?;
            Ok(None)
        }
        (Step::Create, Some(Props::Listener(p))) => {
            create_listener(aws, &change.key, p, ids).await.map(Some)
        }
        (Step::Update, Some(Props::Listener(p))) => {
            aws.elbv2
                .modify_listener()
                .listener_arn(&id)
                .port(i32::try_from(p.port)?)
                .protocol(ProtocolEnum::from(p.protocol.as_str()))
                .set_certificates(certificates(p))
                .set_ssl_policy(p.ssl_policy.clone())
                .default_actions(action(p, ids)?)
                .send()
                .await
                .context("ModifyListener")?;
            Ok(None)
        }
        (step, _) => bail!("{}: cannot {step:?} with these attributes", change.key),
    }
}

fn refs(list: &Set<Ref>, ids: &Ids) -> anyhow::Result<Vec<String>> {
    list.iter().map(|r| resolve(r, ids)).collect()
}

async fn create_balancer(
    aws: &Aws,
    key: &ResourceKey,
    p: &LoadBalancerProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    // Creating a load balancer that exists with the same settings returns it (AWS documents
    // CreateLoadBalancer as idempotent by name), so a resumed run gets the one it made.
    let out = aws
        .elbv2
        .create_load_balancer()
        .name(&p.name)
        .r#type(LoadBalancerTypeEnum::Application)
        .scheme(LoadBalancerSchemeEnum::from(p.scheme.as_str()))
        .ip_address_type(IpAddressType::Ipv4)
        .set_subnets(Some(refs(&p.subnets, ids)?))
        .set_security_groups(Some(refs(&p.security_groups, ids)?))
        .set_tags(Some(tags(aws, key)))
        .send()
        .await
        .context("CreateLoadBalancer")?;
    let arn = out
        .load_balancers()
        .first()
        .and_then(|lb| lb.load_balancer_arn())
        .context("CreateLoadBalancer returned no load balancer")?
        .to_string();
    set_attributes(aws, &arn, p, ids).await?;
    wait::until(
        &aws.progress,
        &format!("{key} {}", p.name),
        aws.wait_max(Duration::from_secs(15 * 60)),
        || async {
            let out = aws
                .elbv2
                .describe_load_balancers()
                .load_balancer_arns(&arn)
                .send()
                .await
                .context("DescribeLoadBalancers")?;
            let state = out
                .load_balancers()
                .first()
                .and_then(|lb| lb.state())
                .and_then(|s| s.code())
                .map(|c| c.as_str().to_string())
                .unwrap_or_else(|| "active".into());
            Ok(match state.as_str() {
                "active" => Poll::Ready,
                "failed" => Poll::Failed("AWS reports state `failed`".into()),
                _ => Poll::Pending(state),
            })
        },
    )
    .await?;
    Ok(arn)
}

/// The load balancer's attributes: idle timeout, the request-handling protections, deletion
/// protection and access logs (to the stack bucket, which exists by then: it is a dependency).
async fn set_attributes(
    aws: &Aws,
    arn: &str,
    p: &LoadBalancerProps,
    ids: &Ids,
) -> anyhow::Result<()> {
    let attribute = |k: &str, v: String| LoadBalancerAttribute::builder().key(k).value(v).build();
    let mut call = aws
        .elbv2
        .modify_load_balancer_attributes()
        .load_balancer_arn(arn)
        .attributes(attribute(
            "idle_timeout.timeout_seconds",
            p.idle_timeout_seconds.to_string(),
        ))
        .attributes(attribute(
            "routing.http.drop_invalid_header_fields.enabled",
            p.drop_invalid_header_fields.to_string(),
        ))
        .attributes(attribute(
            "routing.http.desync_mitigation_mode",
            p.desync_mitigation_mode.clone(),
        ))
        .attributes(attribute(
            "deletion_protection.enabled",
            p.deletion_protection.to_string(),
        ));
    call = match &p.access_logs_bucket {
        Some(bucket) => call
            .attributes(attribute("access_logs.s3.enabled", "true".into()))
            .attributes(attribute("access_logs.s3.bucket", resolve(bucket, ids)?))
            .attributes(attribute(
                "access_logs.s3.prefix",
                p.access_logs_prefix.clone(),
            )),
        None => call.attributes(attribute("access_logs.s3.enabled", "false".into())),
    };
    call.send().await.context("ModifyLoadBalancerAttributes")?;
    Ok(())
}

async fn update_balancer(
    aws: &Aws,
    arn: &str,
    p: &LoadBalancerProps,
    ids: &Ids,
) -> anyhow::Result<()> {
    aws.elbv2
        .set_subnets()
        .load_balancer_arn(arn)
        .set_subnets(Some(refs(&p.subnets, ids)?))
        .send()
        .await
        .context("SetSubnets")?;
    aws.elbv2
        .set_security_groups()
        .load_balancer_arn(arn)
        .set_security_groups(Some(refs(&p.security_groups, ids)?))
        .send()
        .await
        .context("SetSecurityGroups")?;
    set_attributes(aws, arn, p, ids).await
}

async fn create_target_group(
    aws: &Aws,
    key: &ResourceKey,
    p: &TargetGroupProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    // Idempotent by name with the same settings, like CreateLoadBalancer.
    let out = aws
        .elbv2
        .create_target_group()
        .name(&p.name)
        .protocol(ProtocolEnum::from(p.protocol.as_str()))
        .port(i32::try_from(p.port)?)
        .vpc_id(resolve(&p.vpc, ids)?)
        .target_type(TargetTypeEnum::from(p.target_type.as_str()))
        .health_check_protocol(ProtocolEnum::Http)
        .health_check_path(&p.health_check_path)
        .health_check_interval_seconds(i32::try_from(p.health_check_interval_seconds)?)
        .health_check_timeout_seconds(i32::try_from(p.health_check_timeout_seconds)?)
        .healthy_threshold_count(i32::try_from(p.healthy_threshold)?)
        .unhealthy_threshold_count(i32::try_from(p.unhealthy_threshold)?)
        .matcher(Matcher::builder().http_code(&p.matcher).build())
        .set_tags(Some(tags(aws, key)))
        .send()
        .await
        .context("CreateTargetGroup")?;
    let arn = out
        .target_groups()
        .first()
        .and_then(|tg| tg.target_group_arn())
        .context("CreateTargetGroup returned no target group")?
        .to_string();
    set_target_group_attributes(aws, &arn, p).await?;
    Ok(arn)
}

async fn set_target_group_attributes(
    aws: &Aws,
    arn: &str,
    p: &TargetGroupProps,
) -> anyhow::Result<()> {
    let attribute = |k: &str, v: String| TargetGroupAttribute::builder().key(k).value(v).build();
    aws.elbv2
        .modify_target_group_attributes()
        .target_group_arn(arn)
        .attributes(attribute(
            "deregistration_delay.timeout_seconds",
            p.deregistration_delay_seconds.to_string(),
        ))
        .attributes(attribute(
            "stickiness.enabled",
            p.stickiness_enabled.to_string(),
        ))
        .attributes(attribute("stickiness.type", "lb_cookie".into()))
        .attributes(attribute(
            "stickiness.lb_cookie.duration_seconds",
            p.stickiness_duration_seconds.to_string(),
        ))
        .send()
        .await
        .context("ModifyTargetGroupAttributes")?;
    Ok(())
}

async fn update_target_group(aws: &Aws, arn: &str, p: &TargetGroupProps) -> anyhow::Result<()> {
    aws.elbv2
        .modify_target_group()
        .target_group_arn(arn)
        .health_check_protocol(ProtocolEnum::Http)
        .health_check_path(&p.health_check_path)
        .health_check_interval_seconds(i32::try_from(p.health_check_interval_seconds)?)
        .health_check_timeout_seconds(i32::try_from(p.health_check_timeout_seconds)?)
        .healthy_threshold_count(i32::try_from(p.healthy_threshold)?)
        .unhealthy_threshold_count(i32::try_from(p.unhealthy_threshold)?)
        .matcher(Matcher::builder().http_code(&p.matcher).build())
        .send()
        .await
        .context("ModifyTargetGroup")?;
    set_target_group_attributes(aws, arn, p).await
}

fn certificates(p: &ListenerProps) -> Option<Vec<Certificate>> {
    p.certificate_arn
        .as_ref()
        .map(|arn| vec![Certificate::builder().certificate_arn(arn).build()])
}

fn action(p: &ListenerProps, ids: &Ids) -> anyhow::Result<Action> {
    Ok(match &p.action {
        ListenerAction::Forward { target_group } => Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn(resolve(target_group, ids)?)
            .build(),
        ListenerAction::Redirect {
            protocol,
            port,
            status_code,
        } => Action::builder()
            .r#type(ActionTypeEnum::Redirect)
            .redirect_config(
                RedirectActionConfig::builder()
                    .protocol(protocol)
                    .port(port)
                    .status_code(RedirectActionStatusCodeEnum::from(status_code.as_str()))
                    .build(),
            )
            .build(),
    })
}

async fn create_listener(
    aws: &Aws,
    key: &ResourceKey,
    p: &ListenerProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    let lb = resolve(&p.load_balancer, ids)?;
    let created = aws
        .elbv2
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(ProtocolEnum::from(p.protocol.as_str()))
        .port(i32::try_from(p.port)?)
        .set_certificates(certificates(p))
        .set_ssl_policy(p.ssl_policy.clone())
        .default_actions(action(p, ids)?)
        .set_tags(Some(tags(aws, key)))
        .send()
        .await;
    match created {
        Ok(out) => Ok(out
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .context("CreateListener returned no listener")?
            .to_string()),
        // A resumed run: the port is taken by the listener it made before, if it is ours.
        Err(e) if is_code(&e, "DuplicateListener") => {
            let mine = observe_listeners(aws, &lb).await?;
            mine.into_iter()
                .find(|l| &l.key == key)
                .map(|l| l.id)
                .with_context(|| {
                    format!(
                        "port {} of the load balancer is taken by a listener that is not {key}",
                        p.port
                    )
                })
        }
        Err(e) => Err(e).context("CreateListener"),
    }
}

async fn delete(aws: &Aws, kind: Kind, arn: &str) -> anyhow::Result<()> {
    let elbv2 = &aws.elbv2;
    match kind {
        Kind::Listener => tolerate(
            elbv2.delete_listener().listener_arn(arn).send().await,
            &["ListenerNotFound"],
            "DeleteListener",
        ),
        Kind::TargetGroup => tolerate(
            elbv2
                .delete_target_group()
                .target_group_arn(arn)
                .send()
                .await,
            &["TargetGroupNotFound"],
            "DeleteTargetGroup",
        ),
        Kind::LoadBalancer => tolerate(
            elbv2
                .delete_load_balancer()
                .load_balancer_arn(arn)
                .send()
                .await,
            &["LoadBalancerNotFound"],
            "DeleteLoadBalancer",
        ),
        other => bail!("{other} is not a load balancing resource"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::types::{
        Matcher, ProtocolEnum, TargetGroup, TargetGroupAttribute, TargetTypeEnum,
    };

    fn target_group() -> TargetGroup {
        TargetGroup::builder()
            .target_group_arn("arn:tg")
            .target_group_name("s-web")
            .protocol(ProtocolEnum::Http)
            .port(80)
            .vpc_id("vpc-1")
            .target_type(TargetTypeEnum::Instance)
            .health_check_path("/login/index.php")
            .health_check_interval_seconds(30)
            .health_check_timeout_seconds(5)
            .healthy_threshold_count(2)
            .unhealthy_threshold_count(2)
            .matcher(Matcher::builder().http_code("200").build())
            .build()
    }

    fn attribute(key: &str, value: &str) -> TargetGroupAttribute {
        TargetGroupAttribute::builder()
            .key(key)
            .value(value)
            .build()
    }

    #[test]
    fn a_target_group_maps_its_health_check_and_attributes() {
        let attributes = [
            attribute("deregistration_delay.timeout_seconds", "120"),
            attribute("stickiness.enabled", "true"),
            attribute("stickiness.lb_cookie.duration_seconds", "86400"),
        ];
        let r = map_target_group(
            &target_group(),
            &attributes,
            ResourceKey::new(Kind::TargetGroup, "web"),
        );
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        let Props::TargetGroup(p) = r.props else {
            panic!("not a target group");
        };
        assert_eq!(
            (p.port, p.deregistration_delay_seconds, p.stickiness_enabled),
            (80, 120, true)
        );
    }

    #[test]
    fn a_load_balancer_maps_its_subnets_as_a_set_and_its_idle_timeout() {
        use aws_sdk_elasticloadbalancingv2::types::{
            AvailabilityZone, LoadBalancer, LoadBalancerAttribute, LoadBalancerSchemeEnum,
        };
        let lb = LoadBalancer::builder()
            .load_balancer_arn("arn:lb")
            .load_balancer_name("s-alb")
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .availability_zones(AvailabilityZone::builder().subnet_id("subnet-b").build())
            .availability_zones(AvailabilityZone::builder().subnet_id("subnet-a").build())
            .security_groups("sg-alb")
            .dns_name("s-alb-1.eu-west-1.elb.amazonaws.com")
            .build();
        let attribute = |k: &str, v: &str| LoadBalancerAttribute::builder().key(k).value(v).build();
        let attributes = [
            attribute("idle_timeout.timeout_seconds", "120"),
            attribute("routing.http.drop_invalid_header_fields.enabled", "true"),
            attribute("routing.http.desync_mitigation_mode", "strictest"),
            attribute("deletion_protection.enabled", "true"),
            attribute("access_logs.s3.enabled", "true"),
            attribute("access_logs.s3.bucket", "moodle-ha-s-1-eu-west-1"),
            attribute("access_logs.s3.prefix", "alb-access-logs"),
        ];
        let key = ResourceKey::new(Kind::LoadBalancer, "main");
        let r = map_load_balancer(&lb, &attributes, key.clone());
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        let Props::LoadBalancer(p) = r.props else {
            panic!("not a load balancer");
        };
        assert_eq!(p.idle_timeout_seconds, 120);
        assert!(p.drop_invalid_header_fields && p.deletion_protection);
        assert_eq!(p.desync_mitigation_mode, "strictest");
        assert_eq!(
            (p.access_logs_bucket, p.access_logs_prefix.as_str()),
            (
                Some(Ref::External("moodle-ha-s-1-eu-west-1".into())),
                "alb-access-logs"
            )
        );
        // Access logs switched off: no bucket, whatever the bucket attribute still says.
        let mut off = attributes.to_vec();
        off[4] = attribute("access_logs.s3.enabled", "false");
        let r = map_load_balancer(&lb, &off, key.clone());
        let Props::LoadBalancer(p) = r.props else {
            panic!("not a load balancer");
        };
        assert_eq!(p.access_logs_bucket, None);
        assert_eq!(
            p.subnets,
            Set::new([
                Ref::External("subnet-a".into()),
                Ref::External("subnet-b".into())
            ])
        );
        let r = map_load_balancer(&lb, &[], key);
        assert_eq!(
            r.unknown.iter().map(String::as_str).collect::<Vec<_>>(),
            [
                "access_logs_bucket",
                "deletion_protection",
                "desync_mitigation_mode",
                "drop_invalid_header_fields",
                "idle_timeout_seconds"
            ]
        );
    }

    #[test]
    fn a_listener_maps_its_redirect_and_one_without_an_action_has_it_unknown() {
        use aws_sdk_elasticloadbalancingv2::types::{
            Action, Listener, RedirectActionConfig, RedirectActionStatusCodeEnum,
        };
        let redirect = Action::builder()
            .r#type(ActionTypeEnum::Redirect)
            .redirect_config(
                RedirectActionConfig::builder()
                    .protocol("HTTPS")
                    .port("443")
                    .status_code(RedirectActionStatusCodeEnum::Http301)
                    .build(),
            )
            .build();
        let l = Listener::builder()
            .listener_arn("arn:listener")
            .protocol(ProtocolEnum::Http)
            .port(80)
            .default_actions(redirect)
            .build();
        let key = ResourceKey::new(Kind::Listener, "http");
        let r = map_listener(&l, "arn:lb", key.clone());
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        let Props::Listener(p) = r.props else {
            panic!("not a listener");
        };
        assert_eq!(
            p.action,
            ListenerAction::Redirect {
                protocol: "HTTPS".into(),
                port: "443".into(),
                status_code: "HTTP_301".into()
            }
        );
        let bare = Listener::builder()
            .listener_arn("arn:listener")
            .protocol(ProtocolEnum::Http)
            .port(80)
            .build();
        assert!(
            map_listener(&bare, "arn:lb", key)
                .unknown
                .contains("action")
        );
    }

    #[test]
    fn attributes_the_answer_lacks_are_unknown_not_aws_defaults() {
        let r = map_target_group(
            &target_group(),
            &[],
            ResourceKey::new(Kind::TargetGroup, "web"),
        );
        for field in [
            "deregistration_delay_seconds",
            "stickiness_enabled",
            "stickiness_duration_seconds",
        ] {
            assert!(r.unknown.contains(field), "{field}: {:?}", r.unknown);
        }
    }
}
