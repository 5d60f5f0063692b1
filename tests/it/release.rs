//! Releases against the emulator: apply builds the release from the site's repository (a
//! local `file://` one), uploads its archive once to the stack's bucket with its SHA-256, and
//! writes the record the nodes read; a second plan is empty; writing the record again uploads
//! nothing; an older `git_ref` (a downgrade) and a ref of another branch than `moodle.version`
//! are refused at plan time, naming the field and its line.

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

    // An older ref is a downgrade: refused at plan time on `moodle.git_ref`, nothing changes
    // (a newer one is the upgrade workflow: tests/it/upgrade.rs).
    let older = example_spec(&name, |t| t.replace("git_ref: v4.5.6", "git_ref: v4.5.0"));
    let refused = moodle_ha(&["apply", "--yes", older.path.to_str().expect("path")]);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(
        err.contains("moodle.git_ref: downgrade refused: the site runs 4.5.6"),
        "{err}"
    );
    assert_eq!(record(&name).await, rec);

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
        spec,
    ]));
    let gone = ssm()
        .await
        .get_parameter()
        .name(format!("/moodle-ha/{name}/release"))
        .send()
        .await;
    assert!(gone.is_err(), "the record is deleted with the stack");
}
