//! No secret value in any output: every command's stdout and stderr, at `RUST_LOG=trace`
//! (the SDK's own wire logging included), text and JSON, is scanned for the Redis AUTH token
//! and the RDS master password.

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
