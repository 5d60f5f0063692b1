//! The data tier against the emulator: RDS (MySQL and Aurora) and the Redis replication group
//! are created with every setting the spec asks for, read back with plain SDK calls; a second
//! plan is empty; class and replica changes are exactly two in-place updates; destroy refuses
//! while deletion protection is on, then takes the final snapshot; no secret value is printed.

use crate::harness::*;
use serde_json::Value;

fn tags_of(list: &[aws_sdk_rds::types::Tag]) -> Vec<(String, String)> {
    list.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn security_group_id(stack: &str, role: &str) -> String {
    let out = ec2()
        .await
        .describe_security_groups()
        .filters(stack_filter(stack))
        .send()
        .await
        .expect("describe sgs");
    out.security_groups()
        .iter()
        .find(|g| g.group_name() == Some(format!("{stack}-{role}").as_str()))
        .and_then(|g| g.group_id())
        .unwrap_or_else(|| panic!("no {role} group"))
        .to_string()
}

async fn private_subnet_ids(stack: &str) -> Vec<String> {
    let out = ec2()
        .await
        .describe_subnets()
        .filters(stack_filter(stack))
        .send()
        .await
        .expect("describe subnets");
    let mut ids: Vec<String> = out
        .subnets()
        .iter()
        .filter(|s| {
            s.tags().iter().any(|t| {
                t.key() == Some("moodle-ha:resource")
                    && t.value().is_some_and(|v| v.starts_with("subnet/private-"))
            })
        })
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

/// Every change of a `plan --output json` document as `(key, action, [fields])`.
fn changes(doc: &Value) -> Vec<(String, String, Vec<String>)> {
    doc["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap_or_default().to_string(),
                c["action"].as_str().unwrap_or_default().to_string(),
                c["fields"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .map(|x| x["field"].as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn mysql_and_redis_are_created_as_specified_updated_in_place_and_destroyed_with_a_snapshot() {
    let stack = example_spec(&unique("data"), |t| t);
    let spec = stack.path.to_str().expect("path");
    let name = &stack.name;
    ok(moodle_ha(&["apply", "--yes", spec]));

    let rds = rds().await;
    let db_sg = security_group_id(name, "db").await;
    let redis_sg = security_group_id(name, "redis").await;
    let private = private_subnet_ids(name).await;
    assert_eq!(private.len(), 3);

    // DB subnet group over the three private subnets.
    let groups = rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(format!("{name}-db-subnets"))
        .send()
        .await
        .expect("db subnet group");
    let mut subnets: Vec<String> = groups.db_subnet_groups()[0]
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier().map(str::to_string))
        .collect();
    subnets.sort();
    assert_eq!(subnets, private);

    // Parameter group: family and the parameters, exactly as sent (the two Moodle needs,
    // the slow-query log to a file for its export, TLS required).
    let pg_name = format!("{name}-mysql8-4");
    let pg = rds
        .describe_db_parameter_groups()
        .db_parameter_group_name(&pg_name)
        .send()
        .await
        .expect("parameter group");
    assert_eq!(
        pg.db_parameter_groups()[0].db_parameter_group_family(),
        Some("mysql8.4")
    );
    let params = rds
        .describe_db_parameters()
        .db_parameter_group_name(&pg_name)
        .source("user")
        .send()
        .await
        .expect("parameters");
    let mut set: Vec<(String, String)> = params
        .parameters()
        .iter()
        .map(|p| {
            (
                p.parameter_name().unwrap_or_default().to_string(),
                p.parameter_value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    set.sort();
    assert_eq!(
        set,
        vec![
            (
                "innodb_buffer_pool_size".to_string(),
                "{DBInstanceClassMemory*3/4}".to_string()
            ),
            ("log_output".to_string(), "FILE".to_string()),
            ("max_allowed_packet".to_string(), "1073741824".to_string()),
            ("require_secure_transport".to_string(), "1".to_string()),
            ("slow_query_log".to_string(), "1".to_string()),
        ]
    );

    // The instance, setting by setting.
    let out = rds
        .describe_db_instances()
        .db_instance_identifier(format!("{name}-db"))
        .send()
        .await
        .expect("db instance");
    let db = &out.db_instances()[0];
    assert_eq!(db.engine(), Some("mysql"));
    assert!(
        db.engine_version().is_some_and(|v| v.starts_with("8.4")),
        "{:?}",
        db.engine_version()
    );
    assert_eq!(db.db_instance_class(), Some("db.r6g.large"));
    assert_eq!(db.multi_az(), Some(true));
    assert_eq!(db.storage_encrypted(), Some(true));
    assert_eq!(db.storage_type(), Some("gp3"));
    assert_eq!(db.allocated_storage(), Some(100));
    assert_eq!(db.max_allocated_storage(), Some(1000));
    assert_eq!(db.backup_retention_period(), Some(14));
    assert_eq!(db.preferred_backup_window(), Some("02:00-03:00"));
    assert_eq!(
        db.preferred_maintenance_window(),
        Some("sun:04:00-sun:05:00")
    );
    assert_eq!(db.deletion_protection(), Some(true));
    assert_eq!(db.publicly_accessible(), Some(false));
    assert_eq!(db.db_name(), Some("moodle"));
    assert_eq!(
        db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
        Some(format!("{name}-db-subnets").as_str())
    );
    assert_eq!(
        db.db_parameter_groups()[0].db_parameter_group_name(),
        Some(pg_name.as_str())
    );
    let sgs: Vec<&str> = db
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    assert_eq!(sgs, vec![db_sg.as_str()], "the db security group only");
    let master_secret = db
        .master_user_secret()
        .and_then(|s| s.secret_arn())
        .expect("the master password is managed by AWS")
        .to_string();
    assert!(
        tags_of(db.tag_list()).contains(&("moodle-ha:stack".into(), name.clone())),
        "tagged in the create call"
    );

    // The replication group and its members.
    let cache = elasticache().await;
    let out = cache
        .describe_replication_groups()
        .replication_group_id(format!("{name}-redis"))
        .send()
        .await
        .expect("replication group");
    let rg = &out.replication_groups()[0];
    assert_eq!(rg.member_clusters().len(), 2, "a primary and one replica");
    assert_eq!(rg.cache_node_type(), Some("cache.r7g.large"));
    assert_eq!(
        rg.automatic_failover(),
        Some(&aws_sdk_elasticache::types::AutomaticFailoverStatus::Enabled)
    );
    assert_eq!(
        rg.multi_az(),
        Some(&aws_sdk_elasticache::types::MultiAzStatus::Enabled)
    );
    assert_eq!(rg.transit_encryption_enabled(), Some(true));
    assert_eq!(rg.at_rest_encryption_enabled(), Some(true));
    assert_eq!(rg.auth_token_enabled(), Some(true));
    let primary = rg.node_groups()[0]
        .primary_endpoint()
        .and_then(|e| e.address())
        .expect("primary endpoint")
        .to_string();
    let members = cache
        .describe_cache_clusters()
        .send()
        .await
        .expect("cache clusters");
    let members: Vec<_> = members
        .cache_clusters()
        .iter()
        .filter(|c| c.replication_group_id() == Some(format!("{name}-redis").as_str()))
        .collect();
    assert_eq!(members.len(), 2);
    for m in &members {
        let sgs: Vec<&str> = m
            .security_groups()
            .iter()
            .filter_map(|g| g.security_group_id())
            .collect();
        assert_eq!(
            sgs,
            vec![redis_sg.as_str()],
            "the redis security group only"
        );
        assert_eq!(
            m.cache_subnet_group_name(),
            Some(format!("{name}-redis-subnets").as_str())
        );
    }
    let subnet_group = cache
        .describe_cache_subnet_groups()
        .cache_subnet_group_name(format!("{name}-redis-subnets"))
        .send()
        .await
        .expect("cache subnet group");
    let mut subnets: Vec<String> = subnet_group.cache_subnet_groups()[0]
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier().map(str::to_string))
        .collect();
    subnets.sort();
    assert_eq!(subnets, private);

    // The AUTH token lives in Secrets Manager, tagged for the stack.
    let sm = secrets().await;
    let auth_name = format!("moodle-ha/{name}/redis-auth");
    let auth = sm
        .get_secret_value()
        .secret_id(&auth_name)
        .send()
        .await
        .expect("auth secret");
    let auth_value = auth.secret_string().expect("value").to_string();
    assert!(auth_value.len() >= 32);
    let master_value = sm
        .get_secret_value()
        .secret_id(&master_secret)
        .send()
        .await
        .expect("master secret")
        .secret_string()
        .unwrap_or_default()
        .to_string();

    // A second plan is empty, also as JSON; outputs name endpoints and secret ARNs only.
    let second = moodle_ha(&["plan", "--detailed-exitcode", spec]);
    assert_eq!(second.status.code(), Some(0), "{}", stdout(&second));
    let doc = json(moodle_ha(&["plan", "--output", "json", spec]));
    assert_eq!(doc["changes"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        doc["outputs"]["cache.primary_endpoint"],
        Value::from(primary)
    );
    assert_eq!(
        doc["outputs"]["database.master_secret_arn"],
        Value::from(master_secret.clone())
    );

    // Instance class and replica count: exactly two in-place updates, each of one field.
    let bigger = example_spec(name, |t| {
        t.replace(
            "instance_class: db.r6g.large",
            "instance_class: db.r6g.xlarge",
        )
        .replace("replicas: 1", "replicas: 2")
    });
    let bigger_path = bigger.path.to_str().expect("path");
    let doc = json(moodle_ha(&["plan", "--output", "json", bigger_path]));
    assert_eq!(
        changes(&doc),
        vec![
            (
                "db-instance/main".to_string(),
                "update".to_string(),
                vec!["instance_class".to_string()]
            ),
            (
                "replication-group/main".to_string(),
                "update".to_string(),
                vec!["replicas".to_string()]
            ),
        ]
    );
    // apply_immediately is off in the example: the class change waits for the window.
    assert_eq!(
        doc["changes"][0]["fields"][0]["applies"],
        serde_json::json!({"when": "maintenance_window", "window": "sun:04:00-sun:05:00"})
    );
    assert_eq!(
        doc["changes"][1]["fields"][0]["applies"],
        serde_json::json!({"when": "now"})
    );
    let text = ok(moodle_ha(&["plan", bigger_path]));
    assert!(
        text.contains("instance_class: db.r6g.large → db.r6g.xlarge"),
        "{text}"
    );
    assert!(
        text.contains("in the maintenance window (sun:04:00-sun:05:00)"),
        "{text}"
    );

    // Apply, at trace level: every line of output is scanned for the secret values below.
    let applied = moodle_ha_with(
        endpoint(),
        &["apply", "--yes", "-vv", bigger_path],
        &[("RUST_LOG", "trace")],
    );
    let applied_text = format!("{}{}", stdout(&applied), stderr(&applied));
    assert!(applied.status.success(), "{applied_text}");
    let out = rds
        .describe_db_instances()
        .db_instance_identifier(format!("{name}-db"))
        .send()
        .await
        .expect("db instance");
    let db = &out.db_instances()[0];
    let class = db
        .pending_modified_values()
        .and_then(|p| p.db_instance_class())
        .or(db.db_instance_class());
    assert_eq!(class, Some("db.r6g.xlarge"), "now or in the window");
    let out = cache
        .describe_replication_groups()
        .replication_group_id(format!("{name}-redis"))
        .send()
        .await
        .expect("replication group");
    assert_eq!(out.replication_groups()[0].member_clusters().len(), 3);
    let again = moodle_ha(&["plan", "--detailed-exitcode", bigger_path]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));

    // No secret value in any output: plan, apply, JSON, trace logs.
    let json_apply = moodle_ha(&["apply", "--yes", "--output", "json", bigger_path]);
    let json_plan = moodle_ha(&["plan", "--output", "json", "-v", bigger_path]);
    for (what, text) in [
        ("apply at trace level", applied_text),
        (
            "apply --output json",
            format!("{}{}", stdout(&json_apply), stderr(&json_apply)),
        ),
        (
            "plan --output json -v",
            format!("{}{}", stdout(&json_plan), stderr(&json_plan)),
        ),
    ] {
        assert!(
            !text.contains(&auth_value),
            "{what} shows the Redis AUTH token"
        );
        assert!(
            master_value.is_empty() || !text.contains(&master_value),
            "{what} shows the master password"
        );
    }

    // Destroy refuses while deletion protection is on, and deletes nothing.
    let refused = moodle_ha(&["destroy", "--yes", bigger_path]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("deletion protection"),
        "{}",
        stderr(&refused)
    );
    assert!(
        rds.describe_db_instances()
            .db_instance_identifier(format!("{name}-db"))
            .send()
            .await
            .is_ok(),
        "still there"
    );

    // Told to, it turns protection off, takes the final snapshot and removes the data tier.
    let destroyed = ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        bigger_path,
    ]));
    assert!(destroyed.contains("final snapshot:"), "{destroyed}");
    let snapshots = rds
        .describe_db_snapshots()
        .db_instance_identifier(format!("{name}-db"))
        .send()
        .await
        .expect("snapshots");
    assert!(
        snapshots.db_snapshots().iter().any(|s| s
            .db_snapshot_identifier()
            .is_some_and(|i| i.starts_with(&format!("{name}-db-final-")))),
        "the final snapshot exists"
    );
    let gone = rds
        .describe_db_instances()
        .db_instance_identifier(format!("{name}-db"))
        .send()
        .await;
    assert!(gone.is_err(), "the instance is gone");
    let gone = cache
        .describe_replication_groups()
        .replication_group_id(format!("{name}-redis"))
        .send()
        .await;
    assert!(gone.is_err(), "the replication group is gone");
    let db_subnet_groups = rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(format!("{name}-db-subnets"))
        .send()
        .await
        .map(|o| o.db_subnet_groups().len())
        .unwrap_or(0);
    let parameter_groups = rds
        .describe_db_parameter_groups()
        .db_parameter_group_name(&pg_name)
        .send()
        .await
        .map(|o| o.db_parameter_groups().len())
        .unwrap_or(0);
    let cache_subnet_groups = cache
        .describe_cache_subnet_groups()
        .cache_subnet_group_name(format!("{name}-redis-subnets"))
        .send()
        .await
        .map(|o| o.cache_subnet_groups().len())
        .unwrap_or(0);
    let auth_left = sm
        .describe_secret()
        .secret_id(&auth_name)
        .send()
        .await
        .map(|o| o.deleted_date().is_none())
        .unwrap_or(false);
    assert_eq!(
        (
            db_subnet_groups,
            parameter_groups,
            cache_subnet_groups,
            auth_left
        ),
        (0, 0, 0, false),
        "subnet groups and parameter group gone, the AUTH secret scheduled for deletion"
    );
}

#[tokio::test]
async fn aurora_is_a_cluster_with_a_writer_and_readers() {
    let stack = example_spec(&unique("aurora"), |t| {
        t.replace(
            "engine: mysql-8.4",
            "engine: aurora-mysql-3\n  aurora_readers: 2",
        )
        .replace(
            "  multi_az: true\n  allocated_storage_gib: 100\n  max_allocated_storage_gib: 1000\n",
            "",
        )
        .replace("final_snapshot: true", "final_snapshot: false")
    });
    let spec = stack.path.to_str().expect("path");
    let name = &stack.name;
    ok(moodle_ha(&["apply", "--yes", spec]));

    let rds = rds().await;
    let out = rds
        .describe_db_clusters()
        .db_cluster_identifier(format!("{name}-db-cluster"))
        .send()
        .await
        .expect("cluster");
    let cluster = &out.db_clusters()[0];
    assert_eq!(cluster.engine(), Some("aurora-mysql"));
    assert_eq!(cluster.storage_encrypted(), Some(true));
    assert_eq!(cluster.backup_retention_period(), Some(14));
    assert_eq!(cluster.deletion_protection(), Some(true));
    assert!(
        cluster.master_user_secret().is_some(),
        "managed master password"
    );
    let sgs: Vec<&str> = cluster
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    assert_eq!(sgs, vec![security_group_id(name, "db").await.as_str()]);
    let members: Vec<String> = cluster
        .db_cluster_members()
        .iter()
        .filter_map(|m| m.db_instance_identifier().map(str::to_string))
        .collect();
    assert_eq!(members.len(), 3, "a writer and two readers: {members:?}");
    let instances = rds.describe_db_instances().send().await.expect("instances");
    for i in instances
        .db_instances()
        .iter()
        .filter(|i| i.db_cluster_identifier() == Some(format!("{name}-db-cluster").as_str()))
    {
        assert_eq!(i.db_instance_class(), Some("db.r6g.large"));
        assert_eq!(i.publicly_accessible(), Some(false));
        assert_eq!(
            i.db_parameter_groups()[0].db_parameter_group_name(),
            Some(format!("{name}-aurora-mysql8-0").as_str())
        );
    }
    let second = moodle_ha(&["plan", "--detailed-exitcode", spec]);
    assert_eq!(second.status.code(), Some(0), "{}", stdout(&second));

    // No final snapshot asked for: destroy says so, and removes the cluster.
    let destroyed = ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        spec,
    ]));
    assert!(!destroyed.contains("final snapshot:"), "{destroyed}");
    assert!(
        rds.describe_db_clusters()
            .db_cluster_identifier(format!("{name}-db-cluster"))
            .send()
            .await
            .is_err(),
        "the cluster is gone"
    );
}
