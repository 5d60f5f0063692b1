//! No secret value in any output: every command's stdout and stderr, at `RUST_LOG=trace`
//! (the SDK's own wire logging included), text and JSON, is scanned for the Redis AUTH token
//! and the RDS master password. And the secrets' resource policies (issue 20): applied as an
//! assumed role with a path, each secret lets in only the nodes that read it, the spec's
//! operators and that role by its ARN with the path; a policy removed or widened behind the
//! tool's back is drift, and `apply` puts it back in place.

use crate::harness::*;

fn run(args: &[&str]) -> String {
    let out = moodle_ha_with(endpoint(), args, &[("RUST_LOG", "trace")]);
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn no_command_shows_a_secret_value_at_any_log_level() {
    let stack = example_spec(&unique("secrets"), |t| t);
    let spec = stack.path.to_str().expect("path");
    let name = stack.name.clone();
    let mut outputs = vec![
        ("validate", run(&["validate", spec])),
        ("apply", run(&["apply", "--yes", "-vv", spec])),
    ];

    // The values, read the way a node would.
    let sm = secrets().await;
    let auth = sm
        .get_secret_value()
        .secret_id(format!("moodle-ha/{name}/redis-auth"))
        .send()
        .await
        .expect("auth secret")
        .secret_string()
        .expect("value")
        .to_string();
    let master_arn = rds()
        .await
        .describe_db_instances()
        .db_instance_identifier(format!("{name}-db"))
        .send()
        .await
        .expect("db")
        .db_instances()[0]
        .master_user_secret()
        .and_then(|s| s.secret_arn())
        .expect("managed password")
        .to_string();
    let master = sm
        .get_secret_value()
        .secret_id(&master_arn)
        .send()
        .await
        .expect("master secret")
        .secret_string()
        .expect("value")
        .to_string();
    let master: serde_json::Value = serde_json::from_str(&master).expect("JSON secret");
    let password = master["password"].as_str().expect("password").to_string();
    assert!(
        auth.len() >= 32 && password.len() >= 8,
        "real values to look for"
    );

    // The generated Moodle passwords (the database user's, the admin's).
    let mut generated = Vec::new();
    for secret in ["db-user", "admin"] {
        let value = sm
            .get_secret_value()
            .secret_id(format!("moodle-ha/{name}/{secret}"))
            .send()
            .await
            .expect("generated secret")
            .secret_string()
            .expect("value")
            .to_string();
        assert!(value.len() >= 32, "{secret}: a real value to look for");
        generated.push((secret, value));
    }

    let dir = tempfile::tempdir().expect("dir");
    let saved = dir.path().join("plan.json");
    let saved = saved.to_str().expect("path");
    let rendered = dir.path().join("rendered");
    let rendered_s = rendered.to_str().expect("path");
    outputs.push(("render", run(&["render", "-vv", spec, "--out", rendered_s])));
    for file in [
        "web-user-data.yaml",
        "cron-user-data.yaml",
        "config.php",
        "nginx-site.conf",
    ] {
        let text = std::fs::read_to_string(rendered.join(file)).expect("rendered file");
        outputs.push(("rendered file", text));
    }
    outputs.extend([
        ("plan", run(&["plan", "-vv", spec])),
        ("plan json", run(&["plan", "--output", "json", spec])),
        ("plan --out", run(&["plan", "--out", saved, spec])),
        (
            "saved plan file",
            std::fs::read_to_string(saved).expect("saved plan"),
        ),
        (
            "apply json",
            run(&["apply", "--yes", "--output", "json", spec]),
        ),
        ("drift", run(&["drift", "-vv", spec])),
        ("drift json", run(&["drift", "--output", "json", spec])),
        (
            "destroy",
            run(&[
                "destroy",
                "--yes",
                "--disable-deletion-protection",
                "-vv",
                spec,
            ]),
        ),
    ]);
    for (what, text) in &outputs {
        assert!(!text.contains(&auth), "{what} shows the Redis AUTH token");
        assert!(
            !text.contains(&password),
            "{what} shows the master password"
        );
        for (secret, value) in &generated {
            assert!(!text.contains(value), "{what} shows the {secret} password");
        }
    }
    // The trace really was on: the SDK logged its requests.
    let apply = &outputs[1].1;
    assert!(
        apply.contains("TRACE") || apply.contains("DEBUG"),
        "trace output captured"
    );
}

/// The principals a secret's policy does not deny (its `StringNotEquals` on `aws:PrincipalArn`)
/// and those it lets only read, sorted; both empty when the secret has no policy.
async fn policy_principals(secret: &str) -> (Vec<String>, Vec<String>) {
    let answer = secrets()
        .await
        .get_resource_policy()
        .secret_id(secret)
        .send()
        .await
        .expect("GetResourcePolicy");
    let Some(text) = answer.resource_policy() else {
        return (vec![], vec![]);
    };
    let doc: serde_json::Value = serde_json::from_str(text).expect("policy JSON");
    let principals = |sid: &str, op: &str| -> Vec<String> {
        let statements = doc["Statement"].as_array().cloned().unwrap_or_default();
        let Some(s) = statements.iter().find(|s| s["Sid"] == sid) else {
            return vec![];
        };
        assert_eq!(s["Effect"], "Deny", "{sid}");
        assert_eq!(s["Principal"], serde_json::json!({"AWS": "*"}), "{sid}");
        let mut out: Vec<String> = match &s["Condition"][op]["aws:PrincipalArn"] {
            serde_json::Value::String(one) => vec![one.clone()],
            serde_json::Value::Array(many) => many
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            other => panic!("{sid}: aws:PrincipalArn {other}"),
        };
        out.sort();
        out
    };
    (
        principals("OnlyItsNodesAndOperators", "StringNotEquals"),
        principals("NodesOnlyRead", "StringEquals"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn each_secret_lets_in_only_its_nodes_the_operators_and_the_role_that_applies() {
    let stack = example_spec(&unique("secpol"), |t| t);
    let spec = stack.path.to_str().expect("path");
    let name = stack.name.clone();
    // A CI role with a path, assumed: STS names the session `assumed-role/<name>/<session>`,
    // without the path that `aws:PrincipalArn` carries.
    let config = config_for_tests().await;
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
    let role = aws_sdk_iam::Client::new(&config)
        .create_role()
        .role_name(format!("{name}-deployer"))
        .path("/ci/deployers/")
        .assume_role_policy_document(trust)
        .send()
        .await
        .expect("CreateRole");
    let deployer = role.role().expect("role").arn().to_string();
    assert!(deployer.contains(":role/ci/deployers/"), "{deployer}");
    let session = aws_sdk_sts::Client::new(&config)
        .assume_role()
        .role_arn(&deployer)
        .role_session_name("ci-run-1")
        .send()
        .await
        .expect("AssumeRole");
    let c = session.credentials().expect("credentials");
    let (key, secret, token) = (
        c.access_key_id().to_string(),
        c.secret_access_key().to_string(),
        c.session_token().to_string(),
    );
    let as_deployer = [
        ("AWS_ACCESS_KEY_ID", key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ("AWS_SESSION_TOKEN", token.as_str()),
    ];
    let run = |args: &[&str]| moodle_ha_with(endpoint(), args, &as_deployer);
    ok(run(&["apply", "--yes", spec]));

    let role_arn =
        |node: &str| format!("arn:aws:iam::123456789012:role/moodle-ha/{name}/{name}-{node}-role");
    let operator = "arn:aws:iam::123456789012:role/operators/moodle-admin".to_string();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let secret_name = |s: &str| format!("moodle-ha/{name}/{s}");
    let web_reads = (
        sorted(vec![
            deployer.clone(),
            operator.clone(),
            role_arn("cron"),
            role_arn("web"),
        ]),
        sorted(vec![role_arn("cron"), role_arn("web")]),
    );
    let only_cron_reads = (
        sorted(vec![deployer.clone(), operator.clone(), role_arn("cron")]),
        vec![role_arn("cron")],
    );
    assert_eq!(policy_principals(&secret_name("db-user")).await, web_reads);
    assert_eq!(
        policy_principals(&secret_name("redis-auth")).await,
        web_reads
    );
    assert_eq!(
        policy_principals(&secret_name("admin")).await,
        only_cron_reads,
        "the web role may not read the admin password"
    );
    let clean = run(&["plan", "--detailed-exitcode", spec]);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));

    // In the console: db-user's policy removed, the web role let into admin's.
    let sm = secrets().await;
    sm.delete_resource_policy()
        .secret_id(secret_name("db-user"))
        .send()
        .await
        .expect("DeleteResourcePolicy");
    let widened = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "OnlyItsNodesAndOperators", "Effect": "Deny", "Principal": {"AWS": "*"},
        "Action": "secretsmanager:*", "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalArn": [deployer, operator, role_arn("cron"), role_arn("web")]}}
    }]});
    sm.put_resource_policy()
        .secret_id(secret_name("admin"))
        .resource_policy(widened.to_string())
        .send()
        .await
        .expect("PutResourcePolicy");
    let drift = run(&["drift", spec]);
    assert_eq!(drift.status.code(), Some(2), "{}", stderr(&drift));
    let text = stdout(&drift);
    for key in ["secret/db-user", "secret/admin"] {
        assert!(text.contains(key), "{key} in {text}");
    }
    assert!(text.contains("policy"), "{text}");
    assert!(!text.contains("secret/redis-auth"), "{text}");
    ok(run(&["apply", "--yes", spec]));
    assert_eq!(policy_principals(&secret_name("db-user")).await, web_reads);
    assert_eq!(
        policy_principals(&secret_name("admin")).await,
        only_cron_reads
    );
    let again = run(&["plan", "--detailed-exitcode", spec]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));

    // Another identity would put itself in the deployer's place: a planned policy update of
    // each secret (on AWS it could not even read them unless `secrets.administrators` named it).
    let other = moodle_ha(&["plan", "--detailed-exitcode", spec]);
    assert_eq!(other.status.code(), Some(2), "{}", stdout(&other));
    let text = stdout(&other);
    for key in ["secret/db-user", "secret/admin", "secret/redis-auth"] {
        assert!(text.contains(key), "{key} in {text}");
    }
    ok(run(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        spec,
    ]));
}
