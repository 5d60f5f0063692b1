//! The desired state: every resource the spec calls for, with its managed attributes. A pure
//! function of the spec and the facts read about adopted resources (no AWS call here).

use crate::model::{
    AutoScalingGroupProps, DbClusterProps, DbInstanceProps, DbParameterGroupProps, FileSystemProps,
    IamRoleProps, InstanceProfileProps, InstanceProps, InternetGatewayProps, Kind,
    LaunchTemplateProps, ListenerAction, ListenerProps, LoadBalancerProps, MountTargetProps,
    NatGatewayProps, Props, Ref, ReplicationGroupProps, ResourceKey, Route, RouteTableProps, Rule,
    RuleSource, ScalingPolicyProps, ScheduledActionProps, SecretProps, SecurityGroupProps,
    SecurityGroupRulesProps, Set, SubnetGroupProps, SubnetProps, TargetGroupProps, VpcProps,
};
use crate::spec::{DbEngine, NatGateways, Problem, Severity, SourceMap, Spec, parse_size};
use std::collections::BTreeMap;

/// What AWS said about resources the spec refers to (read at plan time).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// Adopted VPC IDs that exist.
    pub vpcs: Vec<String>,
    /// Adopted subnets that exist, by ID.
    pub subnets: BTreeMap<String, SubnetFacts>,
    /// AMIs, by the spec's value (an `ami-…` ID or an `ssm:` parameter); absent when it
    /// names nothing.
    pub images: BTreeMap<String, ImageFacts>,
    /// Status of the load balancer's ACM certificate (`ISSUED`, `EXPIRED` …); `None` when
    /// ACM does not know it.
    pub certificate_status: Option<String>,
    /// The availability zones of the spec's region (read when the stack creates its network;
    /// `None` when not read).
    pub availability_zones: Option<Vec<String>>,
}

/// An AMI the spec names.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageFacts {
    /// The AMI ID (the SSM parameter's value for `ssm:` names).
    pub id: String,
    /// Its root device, e.g. `/dev/sda1`.
    pub root_device_name: String,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// The image's name (e.g. `ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-…`).
    pub name: String,
}

/// An existing subnet.
#[derive(Clone, Debug, PartialEq)]
pub struct SubnetFacts {
    /// Its VPC.
    pub vpc_id: String,
    /// Its availability zone.
    pub availability_zone: String,
}

/// Every resource of the stack, by key, with its desired attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredState {
    /// Stack name (the value of the `moodle-ha:stack` tag).
    pub stack: String,
    /// Its region.
    pub region: String,
    /// Extra tags from the spec.
    pub tags: BTreeMap<String, String>,
    /// The resources.
    pub resources: BTreeMap<ResourceKey, Props>,
}

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

/// Checks the adopted network against what AWS reported, naming each missing or misplaced ID.
pub fn check_facts(spec: &Spec, facts: &Facts, source: &SourceMap) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut push = |path: String, message: String| {
        let line = source.line_of(&path);
        problems.push(Problem {
            severity: Severity::Error,
            path,
            message,
            line,
        });
    };
    match facts.images.get(&spec.web.ami) {
        None => push(
            "web.ami".into(),
            format!(
                "`{}` names no AMI in `{}`",
                spec.web.ami.trim_start_matches("ssm:"),
                spec.region
            ),
        ),
        Some(image) => {
            // The rendered installation is for one distribution: the image must be it, when
            // its name says (custom images often do not).
            if let Some(os) = crate::spec::Os::of_ami(&image.name) {
                if os != spec.os() {
                    push(
                        "web.ami".into(),
                        format!(
                            "`{}` is an `{}` image (`{}`), but the nodes are rendered for `{}`",
                            image.id,
                            os.as_str(),
                            image.name,
                            spec.os().as_str()
                        ),
                    );
                }
            }
            let wanted = crate::spec::architecture_of_types(&spec.web.instance_types);
            if let Some(arch) = wanted {
                if arch != image.architecture {
                    push(
                        "web.ami".into(),
                        format!(
                            "`{}` is an {} image; `web.instance_types` are {arch}",
                            image.id, image.architecture
                        ),
                    );
                }
            }
        }
    }
    match facts.certificate_status.as_deref() {
        None => push(
            "load_balancer.certificate_arn".into(),
            format!(
                "`{}` is not a certificate in ACM in `{}`",
                spec.load_balancer.certificate_arn, spec.region
            ),
        ),
        Some("ISSUED") => {}
        Some(status) => push(
            "load_balancer.certificate_arn".into(),
            format!("the certificate is `{status}`; an HTTPS listener needs an issued certificate"),
        ),
    }
    if let (Some(net), Some(zones)) = (&spec.network.create, &facts.availability_zones) {
        for (i, az) in net.availability_zones.iter().enumerate() {
            if !zones.contains(az) {
                push(
                    format!("network.create.availability_zones[{i}]"),
                    format!(
                        "`{az}` is not an availability zone of `{}` (it has {})",
                        spec.region,
                        zones.join(", ")
                    ),
                );
            }
        }
    }
    let Some(net) = &spec.network.existing else {
        return problems;
    };
    if !facts.vpcs.contains(&net.vpc_id) {
        push(
            "network.existing.vpc_id".into(),
            format!("`{}` does not exist in `{}`", net.vpc_id, spec.region),
        );
    }
    for (list_name, list) in [
        ("public_subnets", &net.public_subnets),
        ("private_subnets", &net.private_subnets),
    ] {
        let mut azs = std::collections::BTreeSet::new();
        for (i, id) in list.iter().enumerate() {
            let path = format!("network.existing.{list_name}[{i}]");
            match facts.subnets.get(id) {
                None => push(path, format!("`{id}` does not exist in `{}`", spec.region)),
                Some(s) if s.vpc_id != net.vpc_id => push(
                    path,
                    format!("`{id}` belongs to `{}`, not `{}`", s.vpc_id, net.vpc_id),
                ),
                Some(s) => {
                    azs.insert(s.availability_zone.clone());
                }
            }
        }
        if azs.len() == 1 {
            push(
                format!("network.existing.{list_name}"),
                "all subnets are in one availability zone; HA needs two or more".into(),
            );
        }
    }
    problems
}

/// Builds the desired state. `facts` must have passed [`check_facts`].
pub fn desired_state(spec: &Spec, facts: &Facts) -> DesiredState {
    let mut resources = BTreeMap::new();
    let mut add = |kind: Kind, name: &str, props: Props| {
        resources.insert(ResourceKey::new(kind, name), props);
    };

    // Network: (vpc, private subnets by AZ).
    let (vpc, private, public): (Ref, Vec<(String, Ref)>, Vec<Ref>) =
        if let Some(net) = &spec.network.create {
            let vpc = Ref::to(Kind::Vpc, "main");
            add(
                Kind::Vpc,
                "main",
                Props::Vpc(VpcProps {
                    cidr: net.cidr.clone(),
                    dns_support: true,
                    dns_hostnames: true,
                }),
            );
            let igw = Ref::to(Kind::InternetGateway, "main");
            add(
                Kind::InternetGateway,
                "main",
                Props::InternetGateway(InternetGatewayProps {
                    vpc: Some(vpc.clone()),
                }),
            );
            let mut private = Vec::new();
            let mut public_subnets = Vec::new();
            for (i, az) in net.availability_zones.iter().enumerate() {
                for (tier, cidrs) in [
                    ("public", &net.public_subnet_cidrs),
                    ("private", &net.private_subnet_cidrs),
                ] {
                    let Some(cidr) = cidrs.get(i) else { continue };
                    let name = format!("{tier}-{az}");
                    add(
                        Kind::Subnet,
                        &name,
                        Props::Subnet(SubnetProps {
                            vpc: vpc.clone(),
                            cidr: cidr.clone(),
                            availability_zone: az.clone(),
                        }),
                    );
                    let subnet = Ref::to(Kind::Subnet, &name);
                    if tier == "public" {
                        public_subnets.push(subnet)
                    } else {
                        private.push((az.clone(), subnet))
                    }
                }
            }
            let nat_azs: Vec<&String> = match net.nat_gateways {
                NatGateways::PerAz => net.availability_zones.iter().collect(),
                NatGateways::Single => net.availability_zones.iter().take(1).collect(),
            };
            for az in &nat_azs {
                add(Kind::ElasticIp, &format!("nat-{az}"), Props::ElasticIp {});
                add(
                    Kind::NatGateway,
                    az,
                    Props::NatGateway(NatGatewayProps {
                        subnet: Ref::to(Kind::Subnet, format!("public-{az}")),
                        allocation: Ref::to(Kind::ElasticIp, format!("nat-{az}")),
                    }),
                );
            }
            add(
                Kind::RouteTable,
                "public",
                Props::RouteTable(RouteTableProps {
                    vpc: vpc.clone(),
                    routes: Set::new([Route {
                        destination: "0.0.0.0/0".into(),
                        target: igw,
                    }]),
                    subnets: Set::new(public_subnets.iter().cloned()),
                }),
            );
            for (az, subnet) in &private {
                let nat_az = if nat_azs.contains(&az) {
                    az.as_str()
                } else {
                    nat_azs.first().map_or(az.as_str(), |a| a.as_str())
                };
                add(
                    Kind::RouteTable,
                    &format!("private-{az}"),
                    Props::RouteTable(RouteTableProps {
                        vpc: vpc.clone(),
                        routes: Set::new([Route {
                            destination: "0.0.0.0/0".into(),
                            target: Ref::to(Kind::NatGateway, nat_az),
                        }]),
                        subnets: Set::new([subnet.clone()]),
                    }),
                );
            }
            (vpc, private, public_subnets)
        } else if let Some(net) = &spec.network.existing {
            let private = net
                .private_subnets
                .iter()
                .filter_map(|id| {
                    facts
                        .subnets
                        .get(id)
                        .map(|s| (s.availability_zone.clone(), Ref::External(id.clone())))
                })
                .collect();
            let public = net
                .public_subnets
                .iter()
                .map(|id| Ref::External(id.clone()))
                .collect();
            (Ref::External(net.vpc_id.clone()), private, public)
        } else {
            (Ref::External(String::new()), Vec::new(), Vec::new())
        };

    // Security groups and their least-privilege rules.
    for (role, purpose) in SECURITY_GROUPS {
        add(
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
        add(Kind::SecurityGroupRules, role, props);
    }

    // File storage: the file system and one mount target per private AZ.
    let fs = &spec.file_storage;
    add(
        Kind::FileSystem,
        crate::names::FILE_SYSTEM,
        Props::FileSystem(FileSystemProps {
            encrypted: true,
            kms_key_id: fs.kms_key_id.clone(),
            performance_mode: json_name(&fs.performance_mode),
            throughput_mode: json_name(&fs.throughput_mode),
            provisioned_throughput_mibps: fs.provisioned_throughput_mibps,
            transition_to_ia: fs.transition_to_ia.clone(),
            transition_to_primary_storage_class: fs.transition_to_primary_storage_class.clone(),
            backup: fs.backup,
        }),
    );
    let private_subnets: Vec<Ref> = private.iter().map(|(_, s)| s.clone()).collect();
    let mut seen_azs = std::collections::BTreeSet::new();
    for (az, subnet) in private {
        if !seen_azs.insert(az.clone()) {
            continue; // EFS allows one mount target per AZ
        }
        add(
            Kind::MountTarget,
            &az,
            Props::MountTarget(MountTargetProps {
                file_system: Ref::to(Kind::FileSystem, crate::names::FILE_SYSTEM),
                subnet,
                security_groups: Set::new([Ref::to(Kind::SecurityGroup, "efs")]),
            }),
        );
    }

    for (key, props) in data_tier(spec, &private_subnets) {
        resources.insert(key, props);
    }
    for (key, props) in web_tier(spec, facts, &vpc, &public, &private_subnets) {
        resources.insert(key, props);
    }
    for (key, props) in cron_tier(spec, facts, &private_subnets) {
        resources.insert(key, props);
    }

    DesiredState {
        stack: spec.name.clone(),
        region: spec.region.clone(),
        tags: spec.tags.clone(),
        resources,
    }
}

/// How long a new web node may stay out of service between heartbeats of its boot script
/// (which beats every 5 minutes while the site is installed) before the group gives up on it.
pub const LAUNCH_READY_SECONDS: u32 = 1800;

/// AWS managed policies every web node gets: SSM Session Manager and the CloudWatch agent.
pub const NODE_MANAGED_POLICIES: &[&str] = &[
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
];

/// Read-only describes a node uses at boot to find the stack's database, Redis and file
/// system by their names (describes take no tag conditions).
fn find_the_stacks_endpoints() -> serde_json::Value {
    serde_json::json!({
        "Sid": "FindTheStacksDatabaseCacheAndFiles",
        "Effect": "Allow",
        "Action": [
            "rds:DescribeDBInstances",
            "rds:DescribeDBClusters",
            "elasticache:DescribeReplicationGroups",
            "elasticfilesystem:DescribeFileSystems"
        ],
        "Resource": "*"
    })
}

/// The inline policy of the web nodes' role: only what they need, limited to the stack's own
/// resources by their `moodle-ha:stack` tag.
pub fn web_node_policy(stack: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadTheStacksSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": "*",
                "Condition": {"StringEquals": {"secretsmanager:ResourceTag/moodle-ha:stack": stack}}
            },
            find_the_stacks_endpoints(),
            {
                "Sid": "MountMoodledata",
                "Effect": "Allow",
                "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/moodle-ha:stack": stack}}
            },
            {
                "Sid": "LeaveTheTargetGroupOnASpotNotice",
                "Effect": "Allow",
                "Action": "elasticloadbalancing:DeregisterTargets",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/moodle-ha:stack": stack}}
            },
            {
                "Sid": "GoInServiceWhenServing",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:CompleteLifecycleAction",
                    "autoscaling:RecordLifecycleActionHeartbeat"
                ],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/moodle-ha:stack": stack}}
            },
            {
                "Sid": "FindTheGroupsTargetGroups",
                "Effect": "Allow",
                "Action": "autoscaling:DescribeAutoScalingGroups",
                "Resource": "*"
            }
        ]
    })
}

/// The inline policy of the cron instance's role: the stack's own secrets (tagged), the RDS
/// managed master secret of the stack's database (tagged by RDS with the database's ARN), the
/// describes that find the database, Redis and the file system by name, and the file system
/// with root access (the cron instance gives moodledata to the web user).
pub fn cron_node_policy(stack: &str, region: &str) -> serde_json::Value {
    let names = crate::names::Names::of(stack);
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadTheStacksSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": "*",
                "Condition": {"StringEquals": {"secretsmanager:ResourceTag/moodle-ha:stack": stack}}
            },
            {
                "Sid": "ReadTheDatabasesMasterSecret",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": format!("arn:aws:secretsmanager:{region}:*:secret:rds!*"),
                "Condition": {"StringLike": {
                    "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn": format!("arn:aws:rds:{region}:*:db:{}", names.db_instance()),
                }}
            },
            {
                "Sid": "ReadTheClustersMasterSecret",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": format!("arn:aws:secretsmanager:{region}:*:secret:rds!*"),
                "Condition": {"StringLike": {
                    "secretsmanager:ResourceTag/aws:rds:primaryDBClusterArn": format!("arn:aws:rds:{region}:*:cluster:{}", names.db_cluster()),
                }}
            },
            find_the_stacks_endpoints(),
            {
                "Sid": "MountMoodledataAndOwnIt",
                "Effect": "Allow",
                "Action": [
                    "elasticfilesystem:ClientMount",
                    "elasticfilesystem:ClientWrite",
                    "elasticfilesystem:ClientRootAccess"
                ],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/moodle-ha:stack": stack}}
            }
        ]
    })
}

/// The cron instance, its role and instance profile, and the secrets generated for Moodle
/// (the database user's password, the admin's password).
fn cron_tier(spec: &Spec, facts: &Facts, private: &[Ref]) -> Vec<(ResourceKey, Props)> {
    let mut out = Vec::new();
    let stack = &spec.name;
    let names = crate::names::Names::of(stack);
    let mut add = |kind: Kind, name: &str, mut props: Props| {
        props.normalize();
        out.push((ResourceKey::new(kind, name), props));
    };
    for (name, what) in [
        ("db-user", "Moodle's database user password (generated)"),
        ("admin", "Moodle's admin password (generated)"),
    ] {
        add(
            Kind::Secret,
            name,
            Props::Secret(SecretProps {
                name: names.secret(name),
                description: format!("moodle-ha {stack}: {what}"),
            }),
        );
    }
    let path = format!("/moodle-ha/{stack}/");
    add(
        Kind::IamRole,
        "cron",
        Props::IamRole(IamRoleProps {
            name: format!("{stack}-cron-role"),
            path: path.clone(),
            description: format!("moodle-ha {stack}: the cron instance"),
            assume_role_policy: ec2_trust_policy().into(),
            managed_policies: NODE_MANAGED_POLICIES
                .iter()
                .map(|p| p.to_string())
                .collect(),
            inline_policy: cron_node_policy(stack, &spec.region).into(),
        }),
    );
    add(
        Kind::InstanceProfile,
        "cron",
        Props::InstanceProfile(InstanceProfileProps {
            name: format!("{stack}-cron-profile"),
            path,
            role: Ref::to(Kind::IamRole, "cron"),
        }),
    );
    let ami = spec.cron.ami.as_ref().unwrap_or(&spec.web.ami);
    let (image_id, root_device_name) = match facts.images.get(ami) {
        Some(image) => (image.id.clone(), image.root_device_name.clone()),
        None => (ami.clone(), "/dev/sda1".into()),
    };
    let user_data = crate::render::cron_user_data(spec)
        .unwrap_or_else(|e| format!("#cloud-config\n# moodle-ha user-data: {e}\n"));
    let Some(subnet) = private.first() else {
        return out;
    };
    add(
        Kind::Instance,
        "cron",
        Props::Instance(InstanceProps {
            image_id,
            instance_type: spec.cron.instance_type.clone(),
            subnet: subnet.clone(),
            security_groups: Set::new([Ref::to(Kind::SecurityGroup, "cron")]),
            instance_profile: Ref::to(Kind::InstanceProfile, "cron"),
            http_tokens: "required".into(),
            http_put_response_hop_limit: 1,
            root_device_name,
            root_volume_gib: spec.cron.root_volume_gib,
            root_volume_type: "gp3".into(),
            root_volume_encrypted: true,
            user_data: crate::render::describe_user_data(&user_data),
            user_data_text: Some(user_data),
        }),
    );
    out
}

/// The trust policy of an EC2 instance role.
pub fn ec2_trust_policy() -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

/// The load balancer, target group and listeners; the web nodes' role (unless the spec names
/// an instance profile), launch template, Auto Scaling group, scaling policies and scheduled
/// actions.
fn web_tier(
    spec: &Spec,
    facts: &Facts,
    vpc: &Ref,
    public: &[Ref],
    private: &[Ref],
) -> Vec<(ResourceKey, Props)> {
    let mut out = Vec::new();
    let stack = &spec.name;
    let names = crate::names::Names::of(stack);
    let lb = &spec.load_balancer;
    let web = &spec.web;
    let mut add = |kind: Kind, name: &str, mut props: Props| {
        props.normalize();
        out.push((ResourceKey::new(kind, name), props));
    };
    let path = format!("/moodle-ha/{stack}/");

    let profile = match &web.instance_profile {
        Some(name) => Ref::External(name.clone()),
        None => {
            add(
                Kind::IamRole,
                "web",
                Props::IamRole(IamRoleProps {
                    name: format!("{stack}-web-role"),
                    path: path.clone(),
                    description: format!("moodle-ha {stack}: web nodes"),
                    assume_role_policy: ec2_trust_policy().into(),
                    managed_policies: NODE_MANAGED_POLICIES
                        .iter()
                        .map(|p| p.to_string())
                        .collect(),
                    inline_policy: web_node_policy(stack).into(),
                }),
            );
            add(
                Kind::InstanceProfile,
                "web",
                Props::InstanceProfile(InstanceProfileProps {
                    name: format!("{stack}-web-profile"),
                    path: path.clone(),
                    role: Ref::to(Kind::IamRole, "web"),
                }),
            );
            Ref::to(Kind::InstanceProfile, "web")
        }
    };

    add(
        Kind::LoadBalancer,
        "main",
        Props::LoadBalancer(LoadBalancerProps {
            name: format!("{stack}-alb"),
            scheme: "internet-facing".into(),
            subnets: Set::new(public.iter().cloned()),
            security_groups: Set::new([Ref::to(Kind::SecurityGroup, "alb")]),
            idle_timeout_seconds: lb.idle_timeout_seconds,
        }),
    );
    let hc = &lb.health_check;
    add(
        Kind::TargetGroup,
        "web",
        Props::TargetGroup(TargetGroupProps {
            name: format!("{stack}-web"),
            protocol: "HTTP".into(),
            port: 80,
            vpc: vpc.clone(),
            target_type: "instance".into(),
            health_check_path: hc.path.clone(),
            health_check_interval_seconds: hc.interval_seconds,
            health_check_timeout_seconds: hc.timeout_seconds,
            healthy_threshold: hc.healthy_threshold,
            unhealthy_threshold: hc.unhealthy_threshold,
            matcher: hc.matcher.clone(),
            deregistration_delay_seconds: lb.deregistration_delay_seconds,
            stickiness_enabled: lb.stickiness.enabled,
            stickiness_duration_seconds: lb.stickiness.duration_seconds,
        }),
    );
    let alb = Ref::to(Kind::LoadBalancer, "main");
    let target_group = Ref::to(Kind::TargetGroup, "web");
    add(
        Kind::Listener,
        "https",
        Props::Listener(ListenerProps {
            load_balancer: alb.clone(),
            protocol: "HTTPS".into(),
            port: 443,
            certificate_arn: Some(lb.certificate_arn.clone()),
            ssl_policy: Some(lb.ssl_policy.clone()),
            action: ListenerAction::Forward {
                target_group: target_group.clone(),
            },
        }),
    );
    add(
        Kind::Listener,
        "http",
        Props::Listener(ListenerProps {
            load_balancer: alb,
            protocol: "HTTP".into(),
            port: 80,
            certificate_arn: None,
            ssl_policy: None,
            action: ListenerAction::Redirect {
                protocol: "HTTPS".into(),
                port: "443".into(),
                status_code: "HTTP_301".into(),
            },
        }),
    );

    let (image_id, root_device_name) = match facts.images.get(&web.ami) {
        Some(image) => (image.id.clone(), image.root_device_name.clone()),
        // Only in tests without facts: `check_facts` stops a real run before this.
        None => (web.ami.clone(), "/dev/sda1".into()),
    };
    let user_data = crate::render::web_user_data(spec)
        .unwrap_or_else(|e| format!("#cloud-config\n# moodle-ha user-data: {e}\n"));
    let template = Props::LaunchTemplate(LaunchTemplateProps {
        name: format!("{stack}-web"),
        image_id,
        instance_profile: profile,
        security_groups: Set::new([Ref::to(Kind::SecurityGroup, "web")]),
        http_tokens: "required".into(),
        http_put_response_hop_limit: web.imds_hop_limit,
        instance_metadata_tags: true,
        root_device_name,
        root_volume_gib: web.root_volume_gib,
        root_volume_type: "gp3".into(),
        root_volume_encrypted: true,
        user_data: crate::render::describe_user_data(&user_data),
        user_data_text: Some(user_data),
    });
    let fingerprint = {
        let mut t = template.clone();
        t.normalize();
        t.fingerprint()
    };
    add(Kind::LaunchTemplate, "web", template);
    let group = Ref::to(Kind::AutoScalingGroup, "web");
    add(
        Kind::AutoScalingGroup,
        "web",
        Props::AutoScalingGroup(AutoScalingGroupProps {
            name: names.web_group(),
            launch_template: Ref::to(Kind::LaunchTemplate, "web"),
            launch_template_version: fingerprint,
            min_size: web.min,
            max_size: web.max,
            desired_capacity: web.desired,
            subnets: Set::new(private.iter().cloned()),
            instance_types: web.instance_types.clone(),
            on_demand_base_capacity: web.on_demand_base_capacity,
            on_demand_percentage_above_base: web.on_demand_percentage_above_base,
            spot_allocation_strategy: "price-capacity-optimized".into(),
            capacity_rebalance: true,
            target_groups: Set::new([target_group.clone()]),
            health_check_type: "ELB".into(),
            health_check_grace_seconds: web.health_check_grace_period_seconds,
            termination_drain_seconds: web.termination_drain_seconds,
            launch_ready_seconds: LAUNCH_READY_SECONDS,
            refresh_min_healthy_percent: web.refresh_min_healthy_percent,
        }),
    );
    if let Some(cpu) = web.scaling.cpu_target_percent {
        add(
            Kind::ScalingPolicy,
            "cpu",
            Props::ScalingPolicy(ScalingPolicyProps {
                group: group.clone(),
                name: format!("{stack}-web-cpu"),
                metric: "ASGAverageCPUUtilization".into(),
                target_value: f64::from(cpu),
                target_group: None,
                listener: None,
            }),
        );
    }
    if let Some(requests) = web.scaling.requests_per_target {
        add(
            Kind::ScalingPolicy,
            "requests",
            Props::ScalingPolicy(ScalingPolicyProps {
                group: group.clone(),
                name: format!("{stack}-web-requests"),
                metric: "ALBRequestCountPerTarget".into(),
                target_value: f64::from(requests),
                target_group: Some(target_group),
                listener: Some(Ref::to(Kind::Listener, "https")),
            }),
        );
    }
    for action in &web.scheduled_actions {
        add(
            Kind::ScheduledAction,
            &action.name,
            Props::ScheduledAction(ScheduledActionProps {
                group: group.clone(),
                name: format!("{stack}-{}", action.name),
                recurrence: action.recurrence.clone(),
                time_zone: action.time_zone.clone(),
                min_size: action.min,
                max_size: action.max,
                desired_capacity: action.desired,
            }),
        );
    }
    out
}

/// Name of the Secrets Manager secret that holds the Redis AUTH token.
pub fn redis_auth_secret_name(stack: &str) -> String {
    crate::names::Names::of(stack).secret("redis-auth")
}

/// The parameter group family of an engine.
pub fn parameter_group_family(engine: DbEngine) -> &'static str {
    match engine {
        DbEngine::Mysql80 => "mysql8.0",
        DbEngine::Mysql84 => "mysql8.4",
        DbEngine::AuroraMysql3 => "aurora-mysql8.0",
    }
}

/// The database (subnet group, parameter group, instance or Aurora cluster and instances) and
/// the cache (subnet group, AUTH token secret, replication group).
fn data_tier(spec: &Spec, private_subnets: &[Ref]) -> Vec<(ResourceKey, Props)> {
    let mut out = Vec::new();
    let stack = &spec.name;
    let names = crate::names::Names::of(stack);
    let db = &spec.database;
    let subnets: Set<Ref> = private_subnets.iter().cloned().collect();
    let mut add = |kind: Kind, name: &str, mut props: Props| {
        props.normalize();
        out.push((ResourceKey::new(kind, name), props));
    };

    add(
        Kind::DbSubnetGroup,
        "main",
        Props::DbSubnetGroup(SubnetGroupProps {
            name: format!("{stack}-db-subnets"),
            description: format!("moodle-ha {stack} database: private subnets"),
            subnets: subnets.clone(),
        }),
    );
    let family = parameter_group_family(db.engine);
    let mut parameters = db.parameters.extra.clone();
    let bytes = |text: &str| parse_size(text).map_or_else(|| text.to_string(), |n| n.to_string());
    parameters.insert(
        "innodb_buffer_pool_size".into(),
        bytes(&db.parameters.innodb_buffer_pool_size),
    );
    parameters.insert(
        "max_allowed_packet".into(),
        bytes(&db.parameters.max_allowed_packet),
    );
    add(
        Kind::DbParameterGroup,
        "main",
        Props::DbParameterGroup(DbParameterGroupProps {
            name: format!("{stack}-{}", family.replace('.', "-")),
            family: family.into(),
            description: format!("moodle-ha {stack} database parameters"),
            parameters,
        }),
    );
    let db_groups = Set::new([Ref::to(Kind::SecurityGroup, "db")]);
    let subnet_group = Ref::to(Kind::DbSubnetGroup, "main");
    let parameter_group = Ref::to(Kind::DbParameterGroup, "main");
    match db.engine {
        DbEngine::Mysql80 | DbEngine::Mysql84 => add(
            Kind::DbInstance,
            "main",
            Props::DbInstance(DbInstanceProps {
                identifier: names.db_instance(),
                engine: "mysql".into(),
                engine_version: Some(
                    if db.engine == DbEngine::Mysql80 {
                        "8.0"
                    } else {
                        "8.4"
                    }
                    .into(),
                ),
                instance_class: db.instance_class.clone(),
                cluster: None,
                promotion_tier: None,
                subnet_group: Some(subnet_group),
                parameter_group,
                security_groups: Some(db_groups),
                publicly_accessible: false,
                multi_az: Some(db.multi_az),
                storage_type: Some("gp3".into()),
                allocated_storage_gib: Some(db.allocated_storage_gib),
                max_allocated_storage_gib: Some(db.max_allocated_storage_gib),
                storage_encrypted: Some(true),
                kms_key_id: None,
                database_name: Some(db.name.clone()),
                master_username: Some(db.master_username.clone()),
                managed_master_password: Some(true),
                backup_retention_days: Some(db.backup_retention_days),
                backup_window: Some(db.backup_window.clone()),
                maintenance_window: db.maintenance_window.clone(),
                deletion_protection: Some(db.deletion_protection),
                copy_tags_to_snapshot: Some(true),
                apply_immediately: db.apply_immediately,
            }),
        ),
        DbEngine::AuroraMysql3 => {
            add(
                Kind::DbCluster,
                "main",
                Props::DbCluster(DbClusterProps {
                    identifier: names.db_cluster(),
                    engine: "aurora-mysql".into(),
                    engine_version: "3".into(),
                    subnet_group,
                    security_groups: db_groups,
                    storage_encrypted: true,
                    kms_key_id: None,
                    database_name: db.name.clone(),
                    master_username: db.master_username.clone(),
                    managed_master_password: true,
                    backup_retention_days: db.backup_retention_days,
                    backup_window: db.backup_window.clone(),
                    maintenance_window: db.maintenance_window.clone(),
                    deletion_protection: db.deletion_protection,
                    copy_tags_to_snapshot: true,
                    apply_immediately: db.apply_immediately,
                }),
            );
            // Aurora makes the first instance to come up the writer; any can take over.
            for n in 1..=db.aurora_readers + 1 {
                add(
                    Kind::DbInstance,
                    &format!("aurora-{n}"),
                    Props::DbInstance(DbInstanceProps {
                        identifier: names.db_member(n),
                        engine: "aurora-mysql".into(),
                        engine_version: None,
                        instance_class: db.instance_class.clone(),
                        cluster: Some(Ref::to(Kind::DbCluster, "main")),
                        promotion_tier: Some(1),
                        subnet_group: None,
                        parameter_group: parameter_group.clone(),
                        security_groups: None,
                        publicly_accessible: false,
                        multi_az: None,
                        storage_type: None,
                        allocated_storage_gib: None,
                        max_allocated_storage_gib: None,
                        storage_encrypted: None,
                        kms_key_id: None,
                        database_name: None,
                        master_username: None,
                        managed_master_password: None,
                        backup_retention_days: None,
                        backup_window: None,
                        maintenance_window: db.maintenance_window.clone(),
                        deletion_protection: None,
                        copy_tags_to_snapshot: None,
                        apply_immediately: db.apply_immediately,
                    }),
                );
            }
        }
    }

    let cache = &spec.cache;
    add(
        Kind::CacheSubnetGroup,
        "main",
        Props::CacheSubnetGroup(SubnetGroupProps {
            name: format!("{stack}-redis-subnets"),
            description: format!("moodle-ha {stack} cache: private subnets"),
            subnets,
        }),
    );
    add(
        Kind::Secret,
        "redis-auth",
        Props::Secret(SecretProps {
            name: redis_auth_secret_name(stack),
            description: format!("moodle-ha {stack}: Redis AUTH token (generated)"),
        }),
    );
    add(
        Kind::ReplicationGroup,
        "main",
        Props::ReplicationGroup(ReplicationGroupProps {
            id: names.redis_group(),
            description: format!("moodle-ha {stack}: sessions and MUC"),
            engine: "redis".into(),
            engine_version: cache.engine_version.clone(),
            node_type: cache.node_type.clone(),
            replicas: cache.replicas,
            automatic_failover: cache.automatic_failover,
            multi_az: cache.multi_az,
            subnet_group: Ref::to(Kind::CacheSubnetGroup, "main"),
            security_groups: Set::new([Ref::to(Kind::SecurityGroup, "redis")]),
            transit_encryption: true,
            at_rest_encryption: true,
            auth_token: true,
            auth_secret: Some(Ref::to(Kind::Secret, "redis-auth")),
            snapshot_retention_days: cache.snapshot_retention_days,
            maintenance_window: cache.maintenance_window.clone(),
            apply_immediately: cache.apply_immediately,
        }),
    );
    out
}

/// The serde name of a spec enum value (e.g. `generalPurpose`), which is how AWS spells it.
fn json_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../stacks/example.yaml");

    fn problems_with_image(name: &str) -> Vec<String> {
        let loaded = match crate::spec::load_str(EXAMPLE) {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        let facts = Facts {
            images: BTreeMap::from([(
                loaded.spec.web.ami.clone(),
                ImageFacts {
                    id: "ami-0abc".into(),
                    root_device_name: "/dev/sda1".into(),
                    architecture: "x86_64".into(),
                    name: name.into(),
                },
            )]),
            certificate_status: Some("ISSUED".into()),
            ..Facts::default()
        };
        check_facts(&loaded.spec, &facts, &loaded.source)
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn an_image_of_another_distribution_than_the_rendered_one_is_refused_at_plan_time() {
        assert_eq!(
            problems_with_image("al2023-ami-2023.6.20241121.0-kernel-6.1-x86_64"),
            [
                "web.ami: `ami-0abc` is an `amazon-linux-2023` image (`al2023-ami-2023.6.20241121.0-kernel-6.1-x86_64`), but the nodes are rendered for `ubuntu-24.04` (line 59)"
            ]
        );
        assert!(
            problems_with_image(
                "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20241119"
            )
            .is_empty()
        );
        assert!(
            problems_with_image("golden-moodle-2024-11").is_empty(),
            "a name that says nothing is trusted"
        );
    }
}
