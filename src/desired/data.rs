//! The data tier: the database (RDS MySQL or Aurora MySQL) and the Redis cache.

use super::{Facts, Part};
use crate::model::{
    DbClusterProps, DbInstanceProps, DbParameterGroupProps, IamRoleProps, Kind, Props, Ref,
    ReplicationGroupProps, SecretProps, Set, SubnetGroupProps,
};
use crate::spec::{DbEngine, Spec, parse_size};

/// Name of the Secrets Manager secret that holds the Redis AUTH token.
pub fn redis_auth_secret_name(stack: &str) -> String {
    crate::names::Names::of(stack).secret("redis-auth")
}

/// The logs every database exports to CloudWatch Logs (Moodle's database errors and the
/// queries slower than `long_query_time`), each to a log group of the stack.
pub const RDS_LOG_EXPORTS: &[&str] = &["error", "slowquery"];

/// The AWS managed policy RDS's enhanced monitoring role needs.
pub const RDS_MONITORING_POLICY: &str =
    "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole";

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
pub(super) fn data_tier(spec: &Spec, facts: &Facts, private_subnets: &[Ref]) -> Part {
    let subnets: Set<Ref> = private_subnets.iter().cloned().collect();
    let mut out = database_groups(spec, &subnets);
    out.extend(database_servers(spec));
    out.extend(cache(spec, facts, &subnets));
    out
}

/// The DB subnet group over the private subnets and the parameter group of the engine's family.
fn database_groups(spec: &Spec, subnets: &Set<Ref>) -> Part {
    let mut out = Part::default();
    let stack = &spec.name;
    let db = &spec.database;
    out.add(
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
    // The slow-query log exported to CloudWatch Logs needs the log on and written to a file
    // (RDS MySQL: "Publishing MySQL logs to Amazon CloudWatch Logs"); a spec may tune both.
    parameters
        .entry("slow_query_log".into())
        .or_insert_with(|| "1".into());
    parameters
        .entry("log_output".into())
        .or_insert_with(|| "FILE".into());
    // The server refuses plaintext connections, not only the nodes avoiding them. On Aurora
    // it is a cluster parameter, which this instance parameter group cannot hold.
    if db.engine != DbEngine::AuroraMysql3 {
        parameters.insert("require_secure_transport".into(), "1".into());
    }
    out.add(
        Kind::DbParameterGroup,
        "main",
        Props::DbParameterGroup(DbParameterGroupProps {
            name: format!("{stack}-{}", family.replace('.', "-")),
            family: family.into(),
            description: format!("moodle-ha {stack} database parameters"),
            parameters,
        }),
    );
    if db.monitoring_interval_seconds > 0 {
        out.add(
            Kind::IamRole,
            "rds-monitoring",
            Props::IamRole(IamRoleProps {
                name: format!("{stack}-rds-monitoring-role"),
                path: format!("/moodle-ha/{stack}/"),
                description: format!("moodle-ha {stack}: RDS enhanced monitoring"),
                assume_role_policy: super::service_trust_policy(
                    "monitoring.rds.amazonaws.com",
                    spec.account_id(),
                    None,
                )
                .into(),
                managed_policies: Set::new([RDS_MONITORING_POLICY.to_string()]),
                inline_policy: serde_json::Value::Null.into(),
            }),
        );
    }
    out
}

/// Enhanced monitoring's interval and role, and whether Performance Insights is on (the
/// spec's switch, where the class has it): the same for every instance.
fn monitoring(spec: &Spec) -> (u32, Option<Ref>, bool) {
    let db = &spec.database;
    let role =
        (db.monitoring_interval_seconds > 0).then(|| Ref::to(Kind::IamRole, "rds-monitoring"));
    (
        db.monitoring_interval_seconds,
        role,
        db.performance_insights && db.class_supports_performance_insights(),
    )
}

/// The RDS MySQL instance, or the Aurora cluster with its writer and readers.
fn database_servers(spec: &Spec) -> Part {
    match spec.database.engine {
        DbEngine::Mysql80 | DbEngine::Mysql84 => rds_instance(spec),
        DbEngine::AuroraMysql3 => aurora_cluster(spec),
    }
}

/// The log groups the database exports `RDS_LOG_EXPORTS` to (AWS fixes their names from
/// `log_group(log)`), as references.
fn export_log_groups(out: &mut Part, spec: &Spec, log_group: impl Fn(&str) -> String) -> Set<Ref> {
    RDS_LOG_EXPORTS
        .iter()
        .map(|log| super::logs::log_group(out, spec, &format!("rds-{log}"), log_group(log)))
        .collect()
}

/// One RDS MySQL instance: Multi-AZ, storage, backups and credentials of its own.
fn rds_instance(spec: &Spec) -> Part {
    let mut out = Part::default();
    let names = crate::names::Names::of(&spec.name);
    let db = &spec.database;
    let log_groups = export_log_groups(&mut out, spec, |log| {
        crate::names::Names::rds_instance_log_group(&names.db_instance(), log)
    });
    let (monitoring_interval, monitoring_role, performance_insights) = monitoring(spec);
    let db_groups = Set::new([Ref::to(Kind::SecurityGroup, "db")]);
    let subnet_group = Ref::to(Kind::DbSubnetGroup, "main");
    let parameter_group = Ref::to(Kind::DbParameterGroup, "main");
    out.add(
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
            cloudwatch_logs_exports: Some(RDS_LOG_EXPORTS.iter().map(|l| l.to_string()).collect()),
            monitoring_interval,
            monitoring_role,
            performance_insights,
            log_groups,
            apply_immediately: db.apply_immediately,
        }),
    );
    out
}

/// The Aurora MySQL cluster (storage, backups, credentials) and its writer and readers.
fn aurora_cluster(spec: &Spec) -> Part {
    let mut out = Part::default();
    let names = crate::names::Names::of(&spec.name);
    let db = &spec.database;
    let db_groups = Set::new([Ref::to(Kind::SecurityGroup, "db")]);
    let subnet_group = Ref::to(Kind::DbSubnetGroup, "main");
    let parameter_group = Ref::to(Kind::DbParameterGroup, "main");
    let log_groups = export_log_groups(&mut out, spec, |log| {
        crate::names::Names::rds_cluster_log_group(&names.db_cluster(), log)
    });
    // Aurora MySQL takes `require_secure_transport` only at the cluster level.
    let family = parameter_group_family(db.engine);
    out.add(
        Kind::DbClusterParameterGroup,
        "main",
        Props::DbClusterParameterGroup(DbParameterGroupProps {
            name: format!("{}-cluster-{}", spec.name, family.replace('.', "-")),
            family: family.into(),
            description: format!("moodle-ha {} database cluster parameters", spec.name),
            parameters: [("require_secure_transport".to_string(), "ON".to_string())]
                .into_iter()
                .collect(),
        }),
    );
    let (monitoring_interval, monitoring_role, performance_insights) = monitoring(spec);
    out.add(
        Kind::DbCluster,
        "main",
        Props::DbCluster(DbClusterProps {
            identifier: names.db_cluster(),
            engine: "aurora-mysql".into(),
            engine_version: "3".into(),
            subnet_group,
            parameter_group: Ref::to(Kind::DbClusterParameterGroup, "main"),
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
            cloudwatch_logs_exports: RDS_LOG_EXPORTS.iter().map(|l| l.to_string()).collect(),
            log_groups,
            apply_immediately: db.apply_immediately,
        }),
    );
    // Aurora makes the first instance to come up the writer; any can take over.
    for n in 1..=db.aurora_readers + 1 {
        out.add(
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
                cloudwatch_logs_exports: None,
                monitoring_interval,
                monitoring_role: monitoring_role.clone(),
                performance_insights,
                log_groups: Set::default(),
                apply_immediately: db.apply_immediately,
            }),
        );
    }
    out
}

/// The cache subnet group, the AUTH token's secret and the Redis replication group.
fn cache(spec: &Spec, facts: &Facts, subnets: &Set<Ref>) -> Part {
    let mut out = Part::default();
    let stack = &spec.name;
    let names = crate::names::Names::of(stack);
    let cache = &spec.cache;
    out.add(
        Kind::CacheSubnetGroup,
        "main",
        Props::CacheSubnetGroup(SubnetGroupProps {
            name: format!("{stack}-redis-subnets"),
            description: format!("moodle-ha {stack} cache: private subnets"),
            subnets: subnets.clone(),
        }),
    );
    out.add(
        Kind::Secret,
        "redis-auth",
        Props::Secret(SecretProps {
            name: redis_auth_secret_name(stack),
            description: format!("moodle-ha {stack}: Redis AUTH token (generated)"),
            policy: super::secrets::policy_of(spec, facts, "redis-auth"),
        }),
    );
    out.add(
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
            auto_minor_version_upgrade: true,
            maintenance_window: cache.maintenance_window.clone(),
            apply_immediately: cache.apply_immediately,
        }),
    );
    out
}
