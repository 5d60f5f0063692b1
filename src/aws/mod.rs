//! The AWS side: one adapter per service ([`ec2`], [`efs`], [`rds`], [`elasticache`],
//! [`secrets`], [`logs`] …), the shared SDK configuration
//! (standard credential chain, `AWS_ENDPOINT_URL`, standard retries with backoff and jitter),
//! and the [`Backend`] the executor drives. SDK types stay inside this module.

pub mod agent;
pub mod answer;
pub mod api_log;
pub mod autoscaling;
pub mod boots;
pub mod cluster_parameters;
pub mod ec2;
pub mod efs;
pub mod elasticache;
pub mod elbv2;
pub mod errors;
pub mod fleet;
pub mod flow_logs;
pub mod iam;
pub mod instances;
pub mod journals;
pub mod launch_templates;
pub mod lock;
pub mod logs;
pub mod once;
pub mod rds;
pub mod releases;
pub mod restore;
pub mod restore_cluster;
pub mod s3;
pub mod secrets;
pub mod snapshots;
pub mod tags;
pub mod wafv2;
pub mod wait;

use crate::desired::Facts;
use crate::executor::{Backend, Ids, Operation};
use crate::model::Kind;
use crate::observed::ObservedState;
use crate::progress::Progress;
use crate::spec::Spec;
use anyhow::Context;
use api_log::ApiCalls;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use std::time::Duration;
use tags::StackTags;

/// Connection settings beyond the standard AWS environment.
#[derive(Clone, Debug, Default)]
pub struct Connect {
    /// Overrides `AWS_ENDPOINT_URL` (e.g. the local emulator).
    pub endpoint_url: Option<String>,
    /// Caps every wait (default: each resource's own realistic maximum).
    pub max_wait: Option<Duration>,
}

/// Clients for one stack.
pub struct Aws {
    /// EC2.
    pub ec2: aws_sdk_ec2::Client,
    /// EFS.
    pub efs: aws_sdk_efs::Client,
    /// RDS.
    pub rds: aws_sdk_rds::Client,
    /// ElastiCache.
    pub elasticache: aws_sdk_elasticache::Client,
    /// Secrets Manager.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// SSM (public AMI parameters, the stack lock, the release record).
    pub ssm: aws_sdk_ssm::Client,
    /// Elastic Load Balancing v2.
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    /// Auto Scaling.
    pub autoscaling: aws_sdk_autoscaling::Client,
    /// IAM.
    pub iam: aws_sdk_iam::Client,
    /// ACM (the load balancer's certificate is checked at plan time).
    pub acm: aws_sdk_acm::Client,
    /// S3 (the stack bucket, release archives in it).
    pub s3: aws_sdk_s3::Client,
    /// STS (the account, at plan time).
    pub sts: aws_sdk_sts::Client,
    /// WAFv2 (the load balancer's web ACL).
    pub wafv2: aws_sdk_wafv2::Client,
    /// The stack's region.
    pub region: String,
    /// CloudWatch Logs (the stack's log groups).
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// The stack's ownership tags.
    pub tags: StackTags,
    /// Where waits report.
    pub progress: Progress,
    /// Requests sent so far.
    pub calls: ApiCalls,
    max_wait: Option<Duration>,
}

impl Aws {
    /// Loads the standard AWS configuration for the spec's region and builds the clients.
    pub async fn connect(spec: &Spec, connect: &Connect, progress: Progress) -> Self {
        Self::connect_to(&spec.name, &spec.region, &spec.tags, connect, progress).await
    }

    /// The same for a stack known by name, region and tags (a saved plan).
    pub async fn connect_to(
        stack: &str,
        region: &str,
        tags: &std::collections::BTreeMap<String, String>,
        connect: &Connect,
        progress: Progress,
    ) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .retry_config(RetryConfig::standard().with_max_attempts(6));
        if let Some(url) = &connect.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let shared = loader.load().await;
        let calls = ApiCalls::default();
        macro_rules! client {
            ($sdk:ident) => {
                $sdk::Client::from_conf(
                    $sdk::config::Builder::from(&shared)
                        .interceptor(calls.clone())
                        .build(),
                )
            };
        }
        Self {
            ec2: client!(aws_sdk_ec2),
            efs: client!(aws_sdk_efs),
            rds: client!(aws_sdk_rds),
            elasticache: client!(aws_sdk_elasticache),
            secrets: client!(aws_sdk_secretsmanager),
            ssm: client!(aws_sdk_ssm),
            s3: client!(aws_sdk_s3),
            elbv2: client!(aws_sdk_elasticloadbalancingv2),
            autoscaling: client!(aws_sdk_autoscaling),
            iam: client!(aws_sdk_iam),
            acm: client!(aws_sdk_acm),
            sts: client!(aws_sdk_sts),
            wafv2: client!(aws_sdk_wafv2),
            region: region.to_string(),
            logs: client!(aws_sdk_cloudwatchlogs),
            tags: StackTags {
                stack: stack.to_string(),
                extra: tags.clone(),
            },
            progress,
            calls,
            max_wait: connect.max_wait,
        }
    }

    /// The maximum for one wait: the resource's own, unless capped.
    pub fn wait_max(&self, default: Duration) -> Duration {
        self.max_wait.map_or(default, |cap| cap.min(default))
    }

    /// The stack's bucket (its name holds the account, read with GetCallerIdentity): where
    /// workflows keep their journals, for commands that plan nothing (`history`, `rollback`).
    pub async fn stack_bucket(&self, spec: &Spec) -> anyhow::Result<String> {
        let account = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .context("GetCallerIdentity")?
            .account()
            .map(str::to_string)
            .context("GetCallerIdentity named no account")?;
        Ok(crate::names::Names::of(&spec.name).bucket(&account, &spec.region))
    }

    /// Reads what AWS knows about what the spec refers to: adopted VPC and subnets, AMIs.
    pub async fn facts(&self, spec: &Spec) -> anyhow::Result<Facts> {
        let network = async {
            match &spec.network.existing {
                Some(net) => {
                    let ids: Vec<String> = net
                        .public_subnets
                        .iter()
                        .chain(&net.private_subnets)
                        .cloned()
                        .collect();
                    ec2::facts(self, &net.vpc_id, &ids).await
                }
                None => Ok(Facts::default()),
            }
        };
        let mut names = vec![spec.web.ami.clone()];
        names.extend(spec.cron.ami.clone());
        names.sort();
        names.dedup();
        let certificate = async {
            match self
                .acm
                .describe_certificate()
                .certificate_arn(&spec.load_balancer.certificate_arn)
                .send()
                .await
            {
                Ok(out) => Ok(Some(
                    out.certificate()
                        .and_then(|c| c.status())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                )),
                Err(e)
                    if errors::is_code(&e, "ResourceNotFoundException")
                        || errors::is_code(&e, "InvalidArnException") =>
                {
                    Ok(None)
                }
                Err(e) => Err(anyhow::Error::new(e).context("DescribeCertificate")),
            }
        };
        let zones = async {
            if spec.network.create.is_none() {
                return Ok(None);
            }
            let out = self
                .ec2
                .describe_availability_zones()
                .send()
                .await
                .context("DescribeAvailabilityZones")?;
            Ok::<_, anyhow::Error>(Some(
                out.availability_zones()
                    .iter()
                    .filter_map(|z| z.zone_name().map(str::to_string))
                    .collect(),
            ))
        };
        let account = async {
            let out = self
                .sts
                .get_caller_identity()
                .send()
                .await
                .context("GetCallerIdentity")?;
            let caller = match out.arn() {
                Some(arn) => Some(principal_arn(self, arn).await?),
                None => None,
            };
            Ok::<_, anyhow::Error>((out.account().map(str::to_string), caller))
        };
        let web_profile_role = async {
            match &spec.web.instance_profile {
                Some(name) => iam::profile_role_arn(self, name).await,
                None => Ok(None),
            }
        };
        let (
            mut facts,
            images,
            certificate_status,
            availability_zones,
            (account, caller),
            web_profile_role,
        ) = tokio::try_join!(
            network,
            ec2::images(self, &names),
            certificate,
            zones,
            account,
            web_profile_role
        )?;
        facts.account = account;
        facts.caller = caller;
        facts.web_profile_role = web_profile_role;
        facts.images = images;
        facts.certificate_status = certificate_status;
        facts.availability_zones = availability_zones;
        Ok(facts)
    }

    /// Everything that carries the stack's tag, one describe per kind, services in parallel.
    pub async fn observe(&self) -> anyhow::Result<ObservedState> {
        let (
            network,
            files,
            databases,
            caches,
            secrets,
            roles,
            balancers,
            templates,
            groups,
            machines,
            buckets,
            releases,
            log_groups,
            flow_logs,
            cluster_parameter_groups,
            acls,
        ) = tokio::try_join!(
            ec2::observe(self),
            efs::observe(self),
            rds::observe(self),
            elasticache::observe(self),
            secrets::observe(self),
            iam::observe(self),
            elbv2::observe(self),
            launch_templates::observe(self),
            autoscaling::observe(self),
            instances::observe(self),
            s3::observe(self),
            releases::observe(self),
            logs::observe(self),
            flow_logs::observe(self),
            cluster_parameters::observe(self),
            wafv2::observe(self),
        )?;
        let mut state = ObservedState {
            resources: network
                .into_iter()
                .chain(files)
                .chain(databases)
                .chain(caches)
                .chain(secrets)
                .chain(roles)
                .chain(balancers)
                .chain(templates)
                .chain(groups)
                .chain(machines)
                .chain(buckets)
                .chain(releases)
                .chain(log_groups)
                .chain(flow_logs)
                .chain(cluster_parameter_groups)
                .chain(acls)
                .collect(),
        };
        crate::observed::symbolize(&mut state);
        Ok(state)
    }
}

/// The `aws:PrincipalArn` of the identity STS answered `caller` for: an assumed role's session
/// is its role's ARN with the role's path, which only IAM knows (GetRole); any other ARN is its
/// own.
async fn principal_arn(aws: &Aws, caller: &str) -> anyhow::Result<String> {
    let Some(role) = crate::desired::session_role(caller) else {
        return Ok(caller.to_string());
    };
    let out = aws
        .iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .with_context(|| format!("GetRole `{role}` (the role you apply as: the stack's secrets' policies name it with its path)"))?;
    out.role()
        .map(|r| r.arn().to_string())
        .filter(|a| !a.is_empty())
        .with_context(|| format!("GetRole answered without the ARN of `{role}`"))
}

impl Backend for Aws {
    async fn execute(&self, op: &Operation, ids: &Ids) -> anyhow::Result<Option<String>> {
        match op.change.key.kind {
            Kind::FileSystem | Kind::MountTarget => efs::execute(self, op, ids).await,
            Kind::DbSubnetGroup | Kind::DbParameterGroup | Kind::DbCluster | Kind::DbInstance => {
                rds::execute(self, op, ids).await
            }
            Kind::CacheSubnetGroup | Kind::ReplicationGroup => {
                elasticache::execute(self, op, ids).await
            }
            Kind::Secret => secrets::execute(self, op).await,
            Kind::LogGroup => logs::execute(self, op).await,
            Kind::DbClusterParameterGroup => cluster_parameters::execute(self, op).await,
            Kind::FlowLog => flow_logs::execute(self, op, ids).await,
            Kind::IamRole | Kind::InstanceProfile => iam::execute(self, op, ids).await,
            Kind::LoadBalancer | Kind::TargetGroup | Kind::Listener => {
                elbv2::execute(self, op, ids).await
            }
            Kind::LaunchTemplate => launch_templates::execute(self, op, ids).await,
            Kind::Bucket => s3::execute(self, op).await,
            Kind::WebAcl => wafv2::execute(self, op, ids).await,
            Kind::Instance => instances::execute(self, op, ids).await,
            Kind::Release => releases::execute(self, op, ids).await,
            Kind::AutoScalingGroup | Kind::ScalingPolicy | Kind::ScheduledAction => {
                autoscaling::execute(self, op, ids).await
            }
            _ => ec2::execute(self, op, ids).await,
        }
    }
}
