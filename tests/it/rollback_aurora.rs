//! The rollback of an Aurora stack's failed upgrade against the emulator, with the upgrade
//! tests' stand-in agent: the cluster snapshot restored as a new cluster with as many
//! instances, then swapped: the original identifiers (and the cluster endpoint config.php
//! names) are the restored cluster's and instances', the upgraded cluster and its instances
//! are kept aside out of the stack. A rollback stopped after its restore and swap ran but
//! before its journal recorded them (a kill) is resumed without restoring or renaming again;
//! afterwards the stack plans nothing.

use crate::harness::*;
use crate::upgrade::{FakeAgent, args, bucket_of, cli};
use aws_sdk_rds::types::{DbCluster, DbInstance};
use serde_json::Value;

/// The example as an Aurora stack with a writer and a reader.
fn aurora(text: String) -> String {
    text.replace(
        "engine: mysql-8.4",
        "engine: aurora-mysql-3\n  aurora_readers: 1",
    )
    .replace(
        "  multi_az: true\n  allocated_storage_gib: 100\n  max_allocated_storage_gib: 1000\n",
        "",
    )
    .replace("final_snapshot: true", "final_snapshot: false")
}

/// Every cluster and instance whose identifier starts with `prefix`.
async fn databases(prefix: &str) -> (Vec<DbCluster>, Vec<DbInstance>) {
    let rds = rds().await;
    let clusters = rds
        .describe_db_clusters()
        .send()
        .await
        .expect("clusters")
        .db_clusters()
        .iter()
        .filter(|c| {
            c.db_cluster_identifier()
                .is_some_and(|id| id.starts_with(prefix))
        })
        .cloned()
        .collect();
    let instances = rds
        .describe_db_instances()
        .send()
        .await
        .expect("instances")
        .db_instances()
        .iter()
        .filter(|i| {
            i.db_instance_identifier()
                .is_some_and(|id| id.starts_with(prefix))
        })
        .cloned()
        .collect();
    (clusters, instances)
}

fn tag<'a>(tags: &'a [aws_sdk_rds::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

fn members(c: &DbCluster) -> Vec<String> {
    let mut m: Vec<String> = c
        .db_cluster_members()
        .iter()
        .filter_map(|m| m.db_instance_identifier().map(str::to_string))
        .collect();
    m.sort();
    m
}

/// Marks the rollback journal's `restore` and `swap` as begun and never ended, as a CLI
/// killed after their AWS calls and before their records leaves them.
async fn forget_the_end_of_restore_and_swap(bucket: &str, id: &str) {
    let s3 = s3().await;
    let key = format!("workflows/{id}.json");
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .expect("the rollback's journal");
    let bytes = object.body.collect().await.expect("body").into_bytes();
    let mut journal: Value = serde_json::from_slice(&bytes).expect("JSON");
    let mut changed = 0;
    for entry in journal["steps"].as_array_mut().expect("steps") {
        if entry["step"] == "restore" || entry["step"] == "swap" {
            assert_eq!(entry["outcome"], "done", "{entry}");
            entry["outcome"] = Value::Null;
            entry["ended"] = Value::Null;
            changed += 1;
        }
    }
    assert_eq!(changed, 2, "{journal:#}");
    s3.put_object()
        .bucket(bucket)
        .key(&key)
        .body(journal.to_string().into_bytes().into())
        .send()
        .await
        .expect("journal written back");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_aurora_rollback_restores_the_cluster_and_its_instances_under_the_original_names() {
    let name = unique("upa");
    let stack = example_spec(&name, aurora);
    let spec = stack.path.to_str().expect("path").to_string();
    ok(moodle_ha(&["apply", "--yes", &spec]));
    let bucket = bucket_of(&name).await;
    let cluster_id = format!("{name}-db-cluster");
    let (clusters, _) = databases(&cluster_id).await;
    assert_eq!(clusters.len(), 1, "{clusters:?}");
    let original = clusters[0].clone();
    let original_members = members(&original);
    assert_eq!(
        original_members,
        [format!("{name}-db-1"), format!("{name}-db-2")],
        "the desired model's names"
    );

    // The upgrade fails in upgrade.php: the cluster snapshot was taken and recorded.
    let agent = FakeAgent::start(&name, &bucket);
    agent.set(|s| s.fail_once.push("upgrade".into()));
    let newer = example_spec(&name, |t| {
        aurora(t).replace("git_ref: v4.5.6", "git_ref: v4.5.7")
    });
    let newer_path = newer.path.to_str().expect("path").to_string();
    let failed = cli(args(&["apply", "--yes", &newer_path])).await;
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    let snapshots = rds()
        .await
        .describe_db_cluster_snapshots()
        .db_cluster_identifier(&cluster_id)
        .snapshot_type("manual")
        .send()
        .await
        .expect("cluster snapshots");
    assert_eq!(snapshots.db_cluster_snapshots().len(), 1, "{snapshots:?}");

    // The plan names the cluster and its instances; the first run stops at `release-back`
    // (the agent's switch fails once), after the restore and the swap.
    agent.set(|s| s.fail_once.push("switch".into()));
    let first = cli(args(&["rollback", "--yes", &spec])).await;
    let out = format!("{}{}", stdout(&first), stderr(&first));
    assert_eq!(first.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "cluster snapshot {}",
            snapshots.db_cluster_snapshots()[0]
                .db_cluster_snapshot_identifier()
                .unwrap_or("?")
        )),
        "{out}"
    );
    assert!(
        out.contains("and its instances renamed with `-upgraded-"),
        "{out}"
    );
    let h: Value = serde_json::from_str(&ok(moodle_ha(&["history", "--output", "json", &spec])))
        .expect("history");
    let rollback_id = h["workflows"]
        .as_array()
        .expect("workflows")
        .iter()
        .filter_map(|w| w["id"].as_str())
        .find(|id| id.starts_with("rollback-"))
        .expect("the rollback's journal")
        .to_string();

    // Resumed as after a kill in the swap: the restore and the swap find their work done.
    forget_the_end_of_restore_and_swap(&bucket, &rollback_id).await;
    let resumed = tokio::task::spawn_blocking({
        let spec = spec.clone();
        move || {
            moodle_ha_with(
                endpoint(),
                &["rollback", "--yes", &spec],
                &[("RUST_LOG", "moodle_ha::api=debug")],
            )
        }
    })
    .await
    .expect("the CLI ran");
    let out = format!("{}{}", stdout(&resumed), stderr(&resumed));
    assert!(resumed.status.success(), "{out}");
    assert!(out.contains("the site runs Moodle 4.5.6"), "{out}");
    assert!(
        out.contains("RDS.DescribeDBClusters"),
        "the API calls are logged: {out}"
    );
    for call in [
        "RestoreDBClusterFromSnapshot",
        "CreateDBInstance",
        "ModifyDBCluster",
        "ModifyDBInstance",
    ] {
        assert!(
            !out.contains(&format!("RDS.{call} ")),
            "{call} sent again: {out}"
        );
    }

    // The original identifiers are the restored cluster's and instances' (same endpoints);
    // the upgraded ones are kept aside, out of the stack; nothing else was made.
    let (clusters, instances) = databases(&format!("{name}-db")).await;
    assert_eq!(clusters.len(), 2, "{clusters:?}");
    assert_eq!(instances.len(), 4, "{instances:?}");
    let now = clusters
        .iter()
        .find(|c| c.db_cluster_identifier() == Some(cluster_id.as_str()))
        .expect("the original name");
    assert_eq!(
        tag(now.tag_list(), "moodle-ha:restored-by"),
        Some(rollback_id.as_str())
    );
    assert_eq!(tag(now.tag_list(), "moodle-ha:stack"), Some(name.as_str()));
    assert_eq!(now.endpoint(), original.endpoint());
    assert_eq!(now.reader_endpoint(), original.reader_endpoint());
    assert_eq!(members(now), original_members);
    assert!(now.master_user_secret().is_some(), "{now:?}");
    assert_eq!(
        now.backup_retention_period(),
        original.backup_retention_period()
    );
    let aside = clusters
        .iter()
        .find(|c| c.db_cluster_identifier() != Some(cluster_id.as_str()))
        .expect("the upgraded cluster, kept");
    let aside_id = aside.db_cluster_identifier().expect("id").to_string();
    assert!(
        aside_id.starts_with(&format!("{cluster_id}-upgraded-")),
        "{aside_id}"
    );
    assert_eq!(tag(aside.tag_list(), "moodle-ha:stack"), None, "{aside:?}");
    assert_eq!(
        tag(aside.tag_list(), "moodle-ha:set-aside-by"),
        Some(rollback_id.as_str())
    );
    let aside_members = members(aside);
    assert_eq!(aside_members.len(), 2, "{aside_members:?}");
    for i in &instances {
        let id = i.db_instance_identifier().unwrap_or_default();
        if original_members.iter().any(|m| m == id) {
            assert_eq!(
                i.db_cluster_identifier(),
                Some(cluster_id.as_str()),
                "{i:?}"
            );
            assert_eq!(
                tag(i.tag_list(), "moodle-ha:restored-by"),
                Some(rollback_id.as_str())
            );
            assert!(tag(i.tag_list(), "moodle-ha:resource").is_some(), "{i:?}");
        } else {
            assert!(
                aside_members.iter().any(|m| m == id),
                "{id} is the upgraded cluster's"
            );
            assert!(id.contains("-upgraded-"), "{id}");
            assert_eq!(i.db_cluster_identifier(), Some(aside_id.as_str()), "{i:?}");
            assert_eq!(tag(i.tag_list(), "moodle-ha:stack"), None, "{i:?}");
            assert_eq!(
                tag(i.tag_list(), "moodle-ha:set-aside-by"),
                Some(rollback_id.as_str())
            );
        }
    }

    // The database tier is converged: the plan changes no cluster or instance (nor the
    // launch template: config.php's host is the same). The web group keeps the capacity the
    // failed upgrade raised it to (the rollback records the group as it finds it), which the
    // next apply gives back; then nothing is left to plan.
    let doc = json(moodle_ha(&["plan", "--output", "json", &spec]));
    let changed: Vec<String> = doc["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["key"].as_str().map(str::to_string))
        .collect();
    assert!(
        changed
            .iter()
            .all(|k| !k.starts_with("db-") && !k.starts_with("launch-template")),
        "{doc:#}"
    );
    ok(moodle_ha(&["apply", "--yes", &spec]));
    let again = moodle_ha(&["plan", "--detailed-exitcode", &spec]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    drop(agent);

    // The cluster set aside is the operator's to delete (it uses the stack's subnet and
    // parameter groups, so the stack cannot be destroyed before it is gone).
    let rds = rds().await;
    for m in &aside_members {
        rds.delete_db_instance()
            .db_instance_identifier(m)
            .skip_final_snapshot(true)
            .send()
            .await
            .expect("delete an instance set aside");
    }
    rds.modify_db_cluster()
        .db_cluster_identifier(&aside_id)
        .deletion_protection(false)
        .apply_immediately(true)
        .send()
        .await
        .expect("deletion protection off");
    rds.delete_db_cluster()
        .db_cluster_identifier(&aside_id)
        .skip_final_snapshot(true)
        .send()
        .await
        .expect("delete the cluster set aside");
    ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        &spec,
    ]));
}
