//! Releases against the emulator: apply builds the release from the site's repository (a
//! local `file://` one), uploads its archive once to the stack's bucket with its SHA-256, and
//! writes the record the nodes read; a second plan is empty; writing the record again uploads
//! nothing; a new `git_ref` is one `release/site` update and nothing else (the launch template
//! and the cron instance's user data do not change); a ref of another branch than
//! `moodle.version` is refused at plan time, naming the field and its line.

use crate::harness::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

async fn ssm() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&config_for_tests().await)
}

async fn record(stack: &str) -> Value {
    let out = ssm()
        .await
        .get_parameter()
        .name(format!("/moodle-ha/{stack}/release"))
        .send()
        .await
        .expect("the release record");
    let text = out.parameter().and_then(|p| p.value()).expect("a value");
    serde_json::from_str(text).expect("JSON")
}

/// The commit a tag of the test site repository names.
fn commit_of(tag: &str) -> String {
    let path = site_repo_url().trim_start_matches("file://");
    let out = std::process::Command::new("git")
        .args(["-C", path, "rev-parse", &format!("{tag}^{{commit}}")])
        .output()
        .expect("git");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `(key, action, [fields])` of each change in a JSON plan.
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
async fn a_release_is_uploaded_once_recorded_and_planned_as_its_own_step() {
    let stack = example_spec(&unique("rel"), |t| t);
    let spec = stack.path.to_str().expect("path");
    let name = stack.name.clone();
    let out = ok(moodle_ha(&["apply", "--yes", spec]));
    assert!(out.contains("release/site"), "{out}");

    // The record: the tag's commit, its archive's key and checksum, Moodle's version fields.
    let rec = record(&name).await;
    let commit = commit_of("v4.5.6");
    assert_eq!(rec["commit"], commit.as_str());
    assert_eq!(rec["key"], format!("releases/{commit}.tar.gz").as_str());
    assert_eq!(rec["branch"], "405");
    assert_eq!(rec["version"], "2024100706.00");
    assert_eq!(rec["release"], "4.5.6 (Build: 20260101)");
    let bucket = rec["bucket"].as_str().expect("bucket").to_string();

    // The archive: in the bucket under its content address, with its SHA-256 (in its metadata;
    // S3's own checksum was sent too, which AWS checks on receipt) equal to the record's and to
    // its bytes'.
    let s3 = s3().await;
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key(format!("releases/{commit}.tar.gz"))
        .send()
        .await
        .expect("the archive");
    assert_eq!(
        object
            .metadata()
            .and_then(|m| m.get("sha256"))
            .map(String::as_str),
        rec["sha256"].as_str()
    );
    let bytes = object.body.collect().await.expect("body").into_bytes();
    let hex: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(rec["sha256"], hex.as_str());

    // A second plan is empty.
    let second = moodle_ha(&["plan", "--detailed-exitcode", spec]);
    assert_eq!(second.status.code(), Some(0), "{}", stdout(&second));

    // The record changed behind the tool's back: apply writes it again and uploads nothing
    // (the bucket has the commit's archive).
    ssm()
        .await
        .put_parameter()
        .name(format!("/moodle-ha/{name}/release"))
        .value("{}")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("overwrite");
    let again = moodle_ha_with(endpoint(), &["apply", "--yes", "-v", spec], &[]);
    let log = format!("{}{}", stdout(&again), stderr(&again));
    assert!(again.status.success(), "{log}");
    assert!(
        log.contains("HeadObject"),
        "the bucket is asked first: {log}"
    );
    assert!(!log.contains("PutObject"), "nothing uploaded again: {log}");
    assert_eq!(record(&name).await, rec);

    // A new ref: one change, the release, and no other (the user data stays the same).
    let newer = example_spec(&name, |t| t.replace("git_ref: v4.5.6", "git_ref: v4.5.0"));
    let newer_path = newer.path.to_str().expect("path");
    let doc = json(moodle_ha(&["plan", "--output", "json", newer_path]));
    assert_eq!(
        changes(&doc),
        vec![(
            "release/site".to_string(),
            "update".to_string(),
            vec![
                "commit".to_string(),
                "key".to_string(),
                "release".to_string(),
                "sha256".to_string(),
                "version".to_string()
            ]
        )]
    );
    let text = stdout(&moodle_ha(&["plan", newer_path]));
    assert!(text.contains("release/site"), "{text}");
    ok(moodle_ha(&["apply", "--yes", newer_path]));
    assert_eq!(record(&name).await["commit"], commit_of("v4.5.0").as_str());
    // Both archives stay (the previous one is what a rollback runs).
    for tag in ["v4.5.6", "v4.5.0"] {
        s3.head_object()
            .bucket(&bucket)
            .key(format!("releases/{}.tar.gz", commit_of(tag)))
            .send()
            .await
            .expect("archive kept");
    }

    // A ref of another branch than `moodle.version` is refused at plan time, by field and line.
    let other = example_spec(&name, |t| t.replace("git_ref: v4.5.6", "git_ref: v5.1.6"));
    let refused = moodle_ha(&["plan", other.path.to_str().expect("path")]);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    let version_line = std::fs::read_to_string(&other.path)
        .expect("the spec")
        .lines()
        .position(|l| l.contains("version: \"4.5\""))
        .map(|i| i + 1)
        .expect("the spec names moodle.version");
    assert!(
        err.contains(&format!("moodle.version: `4.5` (branch 405), but `moodle.git_ref` `v5.1.6` is Moodle 5.1.6 (Build: 20260101) (`$branch = '501'` in its version.php) (line {version_line})")),
        "{err}"
    );
    // A ref the repository lacks: named with its line.
    let missing = example_spec(&name, |t| t.replace("git_ref: v4.5.6", "git_ref: v9.9.9"));
    let refused = moodle_ha(&["plan", missing.path.to_str().expect("path")]);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(err.contains("moodle.git_ref: fetching `v9.9.9`"), "{err}");
    let line = std::fs::read_to_string(&missing.path)
        .expect("the spec")
        .lines()
        .position(|l| l.contains("git_ref: v9.9.9"))
        .map(|i| i + 1)
        .expect("the spec names the ref");
    assert!(err.contains(&format!("(line {line})")), "{err}");

    ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        newer_path,
    ]));
    let gone = ssm()
        .await
        .get_parameter()
        .name(format!("/moodle-ha/{name}/release"))
        .send()
        .await;
    assert!(gone.is_err(), "the record is deleted with the stack");
}
