//! VPC flow logs (EC2): the flow log of a VPC the stack created, to a CloudWatch Logs group
//! of the stack, delivered by the stack's role. Read with one tagged, paginated
//! DescribeFlowLogs; made with a client token and the stack's tags in the create call. AWS
//! cannot change a flow log: the planner replaces it.

use super::Aws;
use super::answer::{required, text};
use super::ec2::resolve;
use super::rds::{role_arn, role_name};
use crate::executor::{Ids, Operation, Step};
use crate::model::{FlowLogProps, Kind, Props, Ref, ResourceKey};
use crate::observed::{ObservedResource, Unknown};
use anyhow::{Context, bail};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    Filter, FlowLogsResourceType, LogDestinationType, ResourceType, Tag, TagSpecification,
    TrafficType,
};

/// The stack's flow logs.
pub async fn observe(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let logs: Vec<_> = aws
        .ec2
        .describe_flow_logs()
        .filter(
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
        .context("DescribeFlowLogs")?;
    Ok(logs
        .iter()
        .filter_map(|f| map_flow_log(f, aws.tags.owner(f.tags())?))
        .collect())
}

/// A flow log of the stack (`key`, from its tags) as the model sees it: its VPC by ID, its
/// role by name (the stack knows its roles by name); what the answer lacks is unknown.
/// `None` for a key of another kind or an answer without the flow log's ID. Pure.
pub fn map_flow_log(f: &aws_sdk_ec2::types::FlowLog, key: ResourceKey) -> Option<ObservedResource> {
    if key.kind != Kind::FlowLog {
        return None;
    }
    let id = f.flow_log_id().filter(|i| !i.is_empty())?.to_string();
    let mut u = Unknown::default();
    let props = Props::FlowLog(FlowLogProps {
        vpc: Ref::External(u.text("vpc", f.resource_id())),
        traffic_type: u.text("traffic_type", f.traffic_type().map(|t| t.as_str())),
        log_group_name: u.text("log_group_name", f.log_group_name()),
        role: Ref::External(u.text("role", f.deliver_logs_permission_arn().map(role_name))),
        max_aggregation_interval: u.count("max_aggregation_interval", f.max_aggregation_interval()),
        log_group: None,
    });
    Some(ObservedResource {
        unknown: u.fields(),
        key,
        id,
        props,
        outputs: Default::default(),
    })
}

/// Carries out one planned step on a flow log (created or deleted: never changed in place).
pub async fn execute(aws: &Aws, op: &Operation, ids: &Ids) -> anyhow::Result<Option<String>> {
    let change = &op.change;
    let id = change.id.clone().unwrap_or_default();
    match (op.step, change.desired.as_ref()) {
        (Step::Create, Some(Props::FlowLog(p))) => create(aws, op, p, ids).await.map(Some),
        (Step::Delete, _) => {
            let out = aws
                .ec2
                .delete_flow_logs()
                .flow_log_ids(&id)
                .send()
                .await
                .context("DeleteFlowLogs")?;
            check_unsuccessful(out.unsuccessful(), "DeleteFlowLogs", true)?;
            Ok(None)
        }
        (step, _) => bail!("{}: cannot {step:?} with these attributes", change.key),
    }
}

async fn create(aws: &Aws, op: &Operation, p: &FlowLogProps, ids: &Ids) -> anyhow::Result<String> {
    let key = &op.change.key;
    let tags: Vec<Tag> = aws
        .tags
        .for_resource(key)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let vpc = resolve(&p.vpc, ids)?;
    // The client token makes a retried call (same plan and step) return the first flow log.
    let answer = aws
        .ec2
        .create_flow_logs()
        .client_token(&op.client_token)
        .resource_ids(&vpc)
        .resource_type(FlowLogsResourceType::Vpc)
        .traffic_type(TrafficType::from(p.traffic_type.as_str()))
        .log_destination_type(LogDestinationType::CloudWatchLogs)
        .log_group_name(&p.log_group_name)
        .deliver_logs_permission_arn(role_arn(aws, &p.role, ids).await?)
        .max_aggregation_interval(i32::try_from(p.max_aggregation_interval)?)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::VpcFlowLog)
                .set_tags(Some(tags))
                .build(),
        )
        .send()
        .await;
    let exists = |code: Option<&str>| code == Some("FlowLogAlreadyExists");
    match answer {
        Ok(out)
            if out
                .unsuccessful()
                .iter()
                .any(|i| exists(i.error().and_then(|e| e.code()))) =>
        {
            adopt(aws, key, &vpc).await
        }
        Ok(out) => {
            check_unsuccessful(out.unsuccessful(), "CreateFlowLogs", false)?;
            required(
                out.flow_log_ids().first().map(String::as_str),
                "CreateFlowLogs",
                "FlowLogId",
            )
        }
        Err(e) if exists(e.code()) => adopt(aws, key, &vpc).await,
        Err(e) => Err(e).context("CreateFlowLogs"),
    }
}

/// The VPC already has this flow log (made by an earlier run whose answer was lost): its ID
/// when it carries this resource's tag, otherwise an error that leaves it alone.
async fn adopt(aws: &Aws, key: &ResourceKey, vpc: &str) -> anyhow::Result<String> {
    let found = aws
        .ec2
        .describe_flow_logs()
        .filter(Filter::builder().name("resource-id").values(vpc).build())
        .send()
        .await
        .context("DescribeFlowLogs")?;
    let ours = found
        .flow_logs()
        .iter()
        .find(|f| aws.tags.owner(f.tags()).as_ref() == Some(key));
    match ours.and_then(|f| f.flow_log_id()) {
        Some(id) => Ok(id.to_string()),
        None => bail!(
            "{vpc} already has a flow log to the same log group that is not tagged as {key} of stack `{}`; it was left alone",
            aws.tags.stack
        ),
    }
}

/// CreateFlowLogs and DeleteFlowLogs answer HTTP 200 with the resources they failed on: an
/// error naming AWS's code and message (a delete's "not found" is done).
fn check_unsuccessful(
    items: &[aws_sdk_ec2::types::UnsuccessfulItem],
    call: &str,
    deleting: bool,
) -> anyhow::Result<()> {
    for item in items {
        let code = item.error().and_then(|e| e.code());
        if deleting && code.is_some_and(|c| c.ends_with(".NotFound")) {
            continue;
        }
        bail!(
            "{call} failed on `{}`: {} ({})",
            text(item.resource_id()),
            text(item.error().and_then(|e| e.message())),
            text(code)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{FlowLog, UnsuccessfulItem, UnsuccessfulItemError};

    #[test]
    fn a_flow_log_maps_its_vpc_log_group_and_role_name() {
        let f = FlowLog::builder()
            .flow_log_id("fl-1")
            .resource_id("vpc-1")
            .traffic_type(TrafficType::All)
            .log_group_name("/moodle-ha/s/vpc-flow-logs")
            .deliver_logs_permission_arn("arn:aws:iam::1:role/moodle-ha/s/s-flow-logs-role")
            .max_aggregation_interval(60)
            .build();
        let r = map_flow_log(&f, ResourceKey::new(Kind::FlowLog, "main")).expect("mapped");
        assert_eq!(r.id, "fl-1");
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        assert_eq!(
            r.props,
            Props::FlowLog(FlowLogProps {
                vpc: Ref::External("vpc-1".into()),
                traffic_type: "ALL".into(),
                log_group_name: "/moodle-ha/s/vpc-flow-logs".into(),
                role: Ref::External("s-flow-logs-role".into()),
                max_aggregation_interval: 60,
                log_group: None,
            })
        );
    }

    #[test]
    fn what_the_answer_lacks_is_unknown_and_other_kinds_are_not_mapped() {
        let f = FlowLog::builder().flow_log_id("fl-1").build();
        let r = map_flow_log(&f, ResourceKey::new(Kind::FlowLog, "main")).expect("mapped");
        let unknown: Vec<&str> = r.unknown.iter().map(String::as_str).collect();
        assert_eq!(
            unknown,
            [
                "log_group_name",
                "max_aggregation_interval",
                "role",
                "traffic_type",
                "vpc"
            ]
        );
        assert!(map_flow_log(&f, ResourceKey::new(Kind::Vpc, "main")).is_none());
    }

    #[test]
    fn a_refused_flow_log_is_an_error_but_one_already_gone_is_deleted() {
        let item = |code: &str| {
            UnsuccessfulItem::builder()
                .resource_id("fl-1")
                .error(
                    UnsuccessfulItemError::builder()
                        .code(code)
                        .message("nope")
                        .build(),
                )
                .build()
        };
        let e = check_unsuccessful(&[item("AccessDenied")], "CreateFlowLogs", false)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("CreateFlowLogs failed on `fl-1`: nope (AccessDenied)")
        );
        assert!(
            check_unsuccessful(&[item("InvalidFlowLogId.NotFound")], "DeleteFlowLogs", true)
                .is_ok()
        );
    }
}
