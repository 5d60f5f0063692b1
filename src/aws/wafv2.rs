//! The WAFv2 adapter: the load balancer's regional web ACL (AWS managed rule groups and a
//! per-IP rate rule), its association with the load balancer and its logging. ListWebACLs has
//! no tag filter: names with the stack's prefix are confirmed by their tags. Every update and
//! delete carries the lock token GetWebACL returns (WAFv2's optimistic locking).

use super::Aws;
use super::answer::{adopt_if_ours, required};
use super::ec2::resolve;
use super::errors::is_code;
use crate::executor::{Ids, Operation, Step};
use crate::model::{Kind, ManagedRuleGroup, Props, Ref, ResourceKey, Set, WebAclProps};
use crate::observed::{ObservedResource, Unknown};
use anyhow::{Context, bail};
use aws_sdk_wafv2::types::{
    AllowAction, BlockAction, CountAction, DefaultAction, LoggingConfiguration,
    ManagedRuleGroupStatement, NoneAction, OverrideAction, RateBasedStatement,
    RateBasedStatementAggregateKeyType, ResourceType, Rule, RuleAction, RuleActionOverride, Scope,
    Statement, Tag, VisibilityConfig, WebAcl,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// The name of the per-IP rate rule.
pub const RATE_RULE: &str = "per-ip-rate";

/// The stack's web ACLs, with their association and logging.
pub async fn observe(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let prefix = format!("{}-", aws.tags.stack);
    let mut summaries = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = aws
            .wafv2
            .list_web_acls()
            .scope(Scope::Regional)
            .set_next_marker(marker.clone())
            .limit(100)
            .send()
            .await
            .context("ListWebACLs")?;
        summaries.extend(
            page.web_acls()
                .iter()
                .filter(|s| s.name().is_some_and(|n| n.starts_with(&prefix)))
                .cloned(),
        );
        match page.next_marker() {
            // An answer with fewer than the limit is the last page (WAFv2 may still send a marker).
            Some(m) if !m.is_empty() && page.web_acls().len() == 100 => {
                marker = Some(m.to_string());
            }
            _ => break,
        }
    }
    let found = futures::future::try_join_all(summaries.iter().map(|s| async move {
        let (Some(arn), Some(name), Some(id)) = (s.arn(), s.name(), s.id()) else {
            return Ok(None);
        };
        observe_one(aws, arn, name, id).await
    }))
    .await?;
    Ok(found.into_iter().flatten().collect())
}

async fn observe_one(
    aws: &Aws,
    arn: &str,
    name: &str,
    id: &str,
) -> anyhow::Result<Option<ObservedResource>> {
    let tags = aws
        .wafv2
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .context("ListTagsForResource")?;
    let key = aws.tags.owner(
        tags.tag_info_for_resource()
            .map(|t| t.tag_list())
            .unwrap_or_default(),
    );
    let Some(key) = key.filter(|k| k.kind == Kind::WebAcl) else {
        return Ok(None);
    };
    let (acl, resources, logging) = tokio::try_join!(
        async {
            aws.wafv2
                .get_web_acl()
                .name(name)
                .id(id)
                .scope(Scope::Regional)
                .send()
                .await
                .context("GetWebACL")
        },
        async {
            aws.wafv2
                .list_resources_for_web_acl()
                .web_acl_arn(arn)
                .resource_type(ResourceType::ApplicationLoadBalancer)
                .send()
                .await
                .context("ListResourcesForWebACL")
        },
        async {
            match aws
                .wafv2
                .get_logging_configuration()
                .resource_arn(arn)
                .send()
                .await
            {
                Ok(out) => Ok(out.logging_configuration().cloned()),
                Err(e) if is_code(&e, "WAFNonexistentItemException") => Ok(None),
                Err(e) => Err(e).context("GetLoggingConfiguration"),
            }
        },
    )?;
    let Some(acl) = acl.web_acl() else {
        return Ok(None);
    };
    Ok(Some(map_web_acl(
        acl,
        resources.resource_arns(),
        logging.as_ref(),
        key,
    )))
}

/// A web ACL as the model sees it, from GetWebACL, ListResourcesForWebACL and
/// GetLoggingConfiguration: AWS managed rule groups with the rules they only count, the rate
/// rule's limit, any other rule by name (none is wanted), the load balancer it protects and
/// where it logs. Pure.
pub fn map_web_acl(
    acl: &WebAcl,
    resources: &[String],
    logging: Option<&LoggingConfiguration>,
    key: ResourceKey,
) -> ObservedResource {
    let mut u = Unknown::default();
    let mut groups = BTreeMap::new();
    let mut rate_limit = None;
    let mut others = Vec::new();
    for rule in acl.rules() {
        let statement = rule.statement();
        if let Some(g) = statement
            .and_then(|s| s.managed_rule_group_statement())
            .filter(|g| g.vendor_name() == "AWS")
        {
            let count = g
                .rule_action_overrides()
                .iter()
                .filter(|o| o.action_to_use().and_then(|a| a.count()).is_some())
                .map(|o| o.name().to_string());
            groups.insert(
                g.name().to_string(),
                ManagedRuleGroup {
                    priority: u32::try_from(rule.priority()).unwrap_or_default(),
                    count: Set::new(count),
                },
            );
        } else if let Some(r) = statement
            .and_then(|s| s.rate_based_statement())
            .filter(|r| {
                rule.name() == RATE_RULE
                    && r.aggregate_key_type() == &RateBasedStatementAggregateKeyType::Ip
                    && rule.action().and_then(|a| a.block()).is_some()
            })
        {
            rate_limit = u32::try_from(r.limit()).ok();
        } else {
            others.push(rule.name().to_string());
        }
    }
    let default_action = match acl.default_action() {
        Some(a) if a.allow().is_some() => Some("allow"),
        Some(a) if a.block().is_some() => Some("block"),
        _ => None,
    };
    let mut props = Props::WebAcl(WebAclProps {
        name: acl.name().to_string(),
        default_action: u.text("default_action", default_action),
        managed_rule_groups: groups,
        rate_limit: rate_limit.unwrap_or_default(),
        other_rules: Set::new(others),
        load_balancer: resources.first().map(|arn| Ref::External(arn.clone())),
        log_destination: logging
            .and_then(|l| l.log_destination_configs().first())
            .cloned(),
        log_group: None,
    });
    props.normalize();
    ObservedResource {
        unknown: u.fields(),
        outputs: BTreeMap::from([("waf.web_acl_arn".to_string(), acl.arn().to_string())]),
        key,
        id: acl.arn().to_string(),
        props,
    }
}

/// The rules of `p`, in priority order: each AWS managed rule group (its counted rules
/// overridden to Count), then the per-IP rate rule.
pub fn rules(p: &WebAclProps) -> anyhow::Result<Vec<Rule>> {
    let visibility = |name: &str| {
        VisibilityConfig::builder()
            .sampled_requests_enabled(true)
            .cloud_watch_metrics_enabled(true)
            .metric_name(name)
            .build()
    };
    let mut out = Vec::new();
    for (name, group) in &p.managed_rule_groups {
        let overrides = group
            .count
            .iter()
            .map(|rule| {
                RuleActionOverride::builder()
                    .name(rule)
                    .action_to_use(
                        RuleAction::builder()
                            .count(CountAction::builder().build())
                            .build(),
                    )
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(
            Rule::builder()
                .name(name)
                .priority(i32::try_from(group.priority)?)
                .statement(
                    Statement::builder()
                        .managed_rule_group_statement(
                            ManagedRuleGroupStatement::builder()
                                .vendor_name("AWS")
                                .name(name)
                                .set_rule_action_overrides(
                                    (!overrides.is_empty()).then_some(overrides),
                                )
                                .build()?,
                        )
                        .build(),
                )
                .override_action(
                    OverrideAction::builder()
                        .none(NoneAction::builder().build())
                        .build(),
                )
                .visibility_config(visibility(name)?)
                .build()?,
        );
    }
    let next = p
        .managed_rule_groups
        .values()
        .map(|g| g.priority + 1)
        .max()
        .unwrap_or_default();
    out.push(
        Rule::builder()
            .name(RATE_RULE)
            .priority(i32::try_from(next)?)
            .statement(
                Statement::builder()
                    .rate_based_statement(
                        RateBasedStatement::builder()
                            .limit(i64::from(p.rate_limit))
                            .aggregate_key_type(RateBasedStatementAggregateKeyType::Ip)
                            .build()?,
                    )
                    .build(),
            )
            .action(
                RuleAction::builder()
                    .block(BlockAction::builder().build())
                    .build(),
            )
            .visibility_config(visibility(RATE_RULE)?)
            .build()?,
    );
    out.sort_by_key(Rule::priority);
    Ok(out)
}

fn default_action(p: &WebAclProps) -> DefaultAction {
    if p.default_action == "block" {
        DefaultAction::builder()
            .block(BlockAction::builder().build())
            .build()
    } else {
        DefaultAction::builder()
            .allow(AllowAction::builder().build())
            .build()
    }
}

fn acl_visibility(name: &str) -> anyhow::Result<VisibilityConfig> {
    Ok(VisibilityConfig::builder()
        .sampled_requests_enabled(true)
        .cloud_watch_metrics_enabled(true)
        .metric_name(name)
        .build()?)
}

/// The web ACL's ID: the last part of its ARN (`…:regional/webacl/<name>/<id>`).
fn acl_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or_default()
}

/// Carries out one planned step on the web ACL.
pub async fn execute(aws: &Aws, op: &Operation, ids: &Ids) -> anyhow::Result<Option<String>> {
    let change = &op.change;
    let id = change.id.clone().unwrap_or_default();
    match (op.step, change.desired.as_ref()) {
        (Step::Create, Some(Props::WebAcl(p))) => {
            let arn = create(aws, &change.key, p).await?;
            connect(aws, &arn, p, None, ids).await?;
            Ok(Some(arn))
        }
        (Step::Update, Some(Props::WebAcl(p))) => {
            let (acl, token) = get(aws, &p.name, &id).await?;
            let _ = acl;
            aws.wafv2
                .update_web_acl()
                .name(&p.name)
                .scope(Scope::Regional)
                .id(acl_id(&id))
                .default_action(default_action(p))
                .set_rules(Some(rules(p)?))
                .visibility_config(acl_visibility(&p.name)?)
                .lock_token(token)
                .send()
                .await
                .context("UpdateWebACL")?;
            let before = match change.observed.as_ref() {
                Some(Props::WebAcl(o)) => Some(o),
                _ => None,
            };
            connect(aws, &id, p, before, ids).await?;
            Ok(None)
        }
        (Step::Delete, _) => {
            let name = match change.observed.as_ref() {
                Some(Props::WebAcl(o)) => o.name.clone(),
                _ => bail!("{}: nothing observed to delete", change.key),
            };
            delete(aws, &name, &id).await?;
            Ok(None)
        }
        (step, _) => bail!("{}: cannot {step:?} with these attributes", change.key),
    }
}

async fn get(aws: &Aws, name: &str, arn: &str) -> anyhow::Result<(WebAcl, String)> {
    let out = aws
        .wafv2
        .get_web_acl()
        .name(name)
        .id(acl_id(arn))
        .scope(Scope::Regional)
        .send()
        .await
        .context("GetWebACL")?;
    let token = required(out.lock_token(), "GetWebACL", "LockToken")?;
    let acl = out
        .web_acl()
        .cloned()
        .context("GetWebACL answered no web ACL")?;
    Ok((acl, token))
}

async fn create(aws: &Aws, key: &ResourceKey, p: &WebAclProps) -> anyhow::Result<String> {
    let tags: Vec<Tag> = aws
        .tags
        .for_resource(key)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()?;
    let created = aws
        .wafv2
        .create_web_acl()
        .name(&p.name)
        .scope(Scope::Regional)
        .default_action(default_action(p))
        .set_rules(Some(rules(p)?))
        .visibility_config(acl_visibility(&p.name)?)
        .description(format!(
            "moodle-ha {}: the load balancer's firewall",
            aws.tags.stack
        ))
        .set_tags(Some(tags))
        .send()
        .await;
    match created {
        Ok(out) => required(out.summary().and_then(|s| s.arn()), "CreateWebACL", "ARN"),
        // Made by an interrupted earlier run: adopt it when its tags say it is this one.
        Err(e) if is_code(&e, "WAFDuplicateItemException") => {
            let listed = aws
                .wafv2
                .list_web_acls()
                .scope(Scope::Regional)
                .limit(100)
                .send()
                .await
                .context("ListWebACLs")?;
            let arn = listed
                .web_acls()
                .iter()
                .find(|s| s.name() == Some(p.name.as_str()))
                .and_then(|s| s.arn())
                .context("WAFDuplicateItemException, but no web ACL of that name is listed")?
                .to_string();
            let tags = aws
                .wafv2
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send()
                .await
                .context("ListTagsForResource")?;
            let owner = aws.tags.owner(
                tags.tag_info_for_resource()
                    .map(|t| t.tag_list())
                    .unwrap_or_default(),
            );
            adopt_if_ours(&aws.tags.stack, "web ACL", &p.name, key, owner.as_ref())?;
            Ok(arn)
        }
        Err(e) => Err(e).context("CreateWebACL"),
    }
}

/// The association with the load balancer and the logging, where they differ from `before`.
async fn connect(
    aws: &Aws,
    arn: &str,
    p: &WebAclProps,
    before: Option<&WebAclProps>,
    ids: &Ids,
) -> anyhow::Result<()> {
    let had_lb = before.and_then(|b| b.load_balancer.clone());
    match (&p.load_balancer, &had_lb) {
        (Some(want), had) if Some(want) != had.as_ref() => {
            let lb = resolve(want, ids)?;
            // A web ACL just made can be briefly unknown to the association API.
            let mut tries = 0;
            loop {
                match aws
                    .wafv2
                    .associate_web_acl()
                    .web_acl_arn(arn)
                    .resource_arn(&lb)
                    .send()
                    .await
                {
                    Ok(_) => break,
                    Err(e) if is_code(&e, "WAFUnavailableEntityException") && tries < 30 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                    Err(e) => return Err(e).context("AssociateWebACL"),
                }
            }
        }
        (None, Some(had)) => {
            let lb = resolve(had, ids)?;
            disassociate(aws, &lb).await?;
        }
        _ => {}
    }
    let had_log = before.and_then(|b| b.log_destination.clone());
    match (&p.log_destination, &had_log) {
        (Some(want), had) if Some(want) != had.as_ref() => {
            let destination = want.clone();
            aws.wafv2
                .put_logging_configuration()
                .logging_configuration(
                    LoggingConfiguration::builder()
                        .resource_arn(arn)
                        .log_destination_configs(destination)
                        .build()?,
                )
                .send()
                .await
                .context("PutLoggingConfiguration")?;
        }
        (None, Some(_)) => {
            match aws
                .wafv2
                .delete_logging_configuration()
                .resource_arn(arn)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if is_code(&e, "WAFNonexistentItemException") => {}
                Err(e) => return Err(e).context("DeleteLoggingConfiguration"),
            }
        }
        _ => {}
    }
    Ok(())
}

async fn disassociate(aws: &Aws, resource: &str) -> anyhow::Result<()> {
    match aws
        .wafv2
        .disassociate_web_acl()
        .resource_arn(resource)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_code(&e, "WAFNonexistentItemException") => Ok(()),
        Err(e) => Err(e).context("DisassociateWebACL"),
    }
}

/// Disassociates every resource, removes the logging, then deletes the web ACL with a fresh
/// lock token.
async fn delete(aws: &Aws, name: &str, arn: &str) -> anyhow::Result<()> {
    let resources = match aws
        .wafv2
        .list_resources_for_web_acl()
        .web_acl_arn(arn)
        .resource_type(ResourceType::ApplicationLoadBalancer)
        .send()
        .await
    {
        Ok(out) => out.resource_arns().to_vec(),
        Err(e) if is_code(&e, "WAFNonexistentItemException") => return Ok(()),
        Err(e) => return Err(e).context("ListResourcesForWebACL"),
    };
    for resource in resources {
        disassociate(aws, &resource).await?;
    }
    match aws
        .wafv2
        .delete_logging_configuration()
        .resource_arn(arn)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if is_code(&e, "WAFNonexistentItemException") => {}
        Err(e) => return Err(e).context("DeleteLoggingConfiguration"),
    }
    let mut tries = 0;
    loop {
        let token = match get(aws, name, arn).await {
            Ok((_, token)) => token,
            Err(e)
                if e.chain()
                    .any(|c| c.to_string().contains("WAFNonexistentItemException")) =>
            {
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        match aws
            .wafv2
            .delete_web_acl()
            .name(name)
            .id(acl_id(arn))
            .scope(Scope::Regional)
            .lock_token(token)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if is_code(&e, "WAFNonexistentItemException") => return Ok(()),
            // Another change took the lock, or the disassociation is still settling.
            Err(e)
                if (is_code(&e, "WAFOptimisticLockException")
                    || is_code(&e, "WAFAssociatedItemException"))
                    && tries < 30 =>
            {
                tries += 1;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e).context("DeleteWebACL"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props() -> WebAclProps {
        WebAclProps {
            name: "s-alb".into(),
            default_action: "allow".into(),
            managed_rule_groups: BTreeMap::from([
                (
                    "AWSManagedRulesCommonRuleSet".to_string(),
                    ManagedRuleGroup {
                        priority: 1,
                        count: Set::new(["SizeRestrictions_BODY".to_string()]),
                    },
                ),
                (
                    "AWSManagedRulesKnownBadInputsRuleSet".to_string(),
                    ManagedRuleGroup {
                        priority: 2,
                        count: Set::default(),
                    },
                ),
            ]),
            rate_limit: 3000,
            other_rules: Set::default(),
            load_balancer: Some(Ref::External("arn:lb".into())),
            log_destination: Some("arn:logs".into()),
            log_group: None,
        }
    }

    #[test]
    fn the_rules_sent_read_back_as_the_same_web_acl() {
        let p = props();
        let sent = rules(&p).expect("rules");
        assert_eq!(
            sent.iter()
                .map(|r| (r.name(), r.priority()))
                .collect::<Vec<_>>(),
            [
                ("AWSManagedRulesCommonRuleSet", 1),
                ("AWSManagedRulesKnownBadInputsRuleSet", 2),
                ("per-ip-rate", 3)
            ]
        );
        let acl = WebAcl::builder()
            .name("s-alb")
            .id("abc")
            .arn("arn:aws:wafv2:eu-west-1:1:regional/webacl/s-alb/abc")
            .default_action(default_action(&p))
            .set_rules(Some(sent))
            .build()
            .expect("acl");
        let logging = LoggingConfiguration::builder()
            .resource_arn("arn:aws:wafv2:eu-west-1:1:regional/webacl/s-alb/abc")
            .log_destination_configs("arn:logs")
            .build()
            .expect("logging");
        let r = map_web_acl(
            &acl,
            &["arn:lb".to_string()],
            Some(&logging),
            ResourceKey::new(Kind::WebAcl, "main"),
        );
        assert_eq!(r.props, Props::WebAcl(p));
        assert!(r.unknown.is_empty());
    }

    #[test]
    fn a_rule_added_by_hand_and_a_count_override_removed_are_seen() {
        let mut p = props();
        p.managed_rule_groups
            .get_mut("AWSManagedRulesCommonRuleSet")
            .expect("group")
            .count = Set::default();
        let mut sent = rules(&p).expect("rules");
        sent.push(
            Rule::builder()
                .name("by-hand")
                .priority(9)
                .statement(Statement::builder().build())
                .action(
                    RuleAction::builder()
                        .block(BlockAction::builder().build())
                        .build(),
                )
                .visibility_config(acl_visibility("by-hand").expect("visibility"))
                .build()
                .expect("rule"),
        );
        let acl = WebAcl::builder()
            .name("s-alb")
            .id("abc")
            .arn("arn:acl")
            .set_rules(Some(sent))
            .build()
            .expect("acl");
        let r = map_web_acl(&acl, &[], None, ResourceKey::new(Kind::WebAcl, "main"));
        let Props::WebAcl(o) = &r.props else {
            panic!("a web ACL")
        };
        assert_eq!(o.other_rules, Set::new(["by-hand".to_string()]));
        assert!(
            o.managed_rule_groups["AWSManagedRulesCommonRuleSet"]
                .count
                .is_empty()
        );
        assert_eq!((&o.load_balancer, &o.log_destination), (&None, &None));
        assert!(
            r.unknown.contains("default_action"),
            "no default action answered"
        );
    }
}
