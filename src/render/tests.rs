//! Rendered user data and the Spot interruption watcher, run against a fake metadata service
//! (stub `curl` and `aws` on PATH that log their arguments).

use super::*;
use std::path::Path;
use std::process::Command;

#[derive(serde::Deserialize)]
struct CloudConfig {
    packages: Vec<String>,
    write_files: Vec<WriteFile>,
    runcmd: Vec<Vec<String>>,
}

#[derive(serde::Deserialize)]
struct WriteFile {
    path: String,
    content: String,
    #[serde(default)]
    defer: bool,
}

fn parse(text: &str) -> CloudConfig {
    assert!(text.starts_with("#cloud-config\n"));
    match serde_saphyr::from_str(text) {
        Ok(doc) => doc,
        Err(e) => panic!("not valid YAML: {e}\n{text}"),
    }
}

fn file<'a>(doc: &'a CloudConfig, path: &str) -> &'a WriteFile {
    match doc.write_files.iter().find(|f| f.path == path) {
        Some(f) => f,
        None => panic!("{path} is not written"),
    }
}

/// The rendered variants: the example and one spec per combination the issue names.
const VARIANTS: &[&str] = &[
    "example",
    "aurora-nginx-al2023",
    "mysql84-apache-ubuntu-moodle51",
    "mysql80-moodle45",
    "mysql84-nginx-debian12-moodle45",
    "mysql84-apache-debian12-moodle51",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn variant(name: &str) -> Spec {
    let path = if name == "example" {
        root().join("stacks/example.yaml")
    } else {
        root().join(format!("tests/render/{name}.yaml"))
    };
    match crate::spec::load_file(&path) {
        Ok(l) => l.spec,
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// Endpoints shaped like AWS's, for the snapshots.
fn fake_outputs(spec: &Spec) -> Outputs {
    let site = Site::new(spec);
    let db = if site.db_kind == "cluster" {
        format!(
            "{}.cluster-c9akciq32lx1.{}.rds.amazonaws.com",
            site.db_id, spec.region
        )
    } else {
        format!(
            "{}.c9akciq32lx1.{}.rds.amazonaws.com",
            site.db_id, spec.region
        )
    };
    Outputs {
        database_endpoint: Some(db),
        cache_primary_endpoint: Some(format!(
            "master.{}.x1ab2c.euw1.cache.amazonaws.com",
            site.redis_group
        )),
    }
}

/// What the CI validators (`tests/render-check/`) compare the rendered files against.
fn expectations(spec: &Spec, outputs: &Outputs) -> String {
    let s = Site::new(spec);
    let doc = serde_json::json!({
        "os": s.os,
        "wwwroot": s.wwwroot,
        "host": s.host,
        "dbtype": s.dbtype,
        "dbhost": outputs.database_endpoint,
        "dbname": s.db_name,
        "dbuser": s.db_user,
        "prefix": s.db_prefix,
        "dataroot": s.dataroot,
        "session_redis_host": outputs.cache_primary_endpoint,
        "session_redis_port": 6379,
        "ca_bundle": s.ca_bundle,
        "code_root": s.code_root,
        "document_root": s.document_root,
        "web_server": s.web_server,
        "fpm_socket": s.fpm_socket,
        "health_path": s.health_path,
        "web_user": s.web_user,
        "php_bin": s.php_bin,
        "secrets_file": s.secrets_file,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// Snapshots of every rendered file, in `tests/render/<variant>/`; `UPDATE_SNAPSHOTS=1`
/// rewrites them (review the diff).
#[test]
fn rendered_files_match_their_snapshots() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut stale = Vec::new();
    for name in VARIANTS {
        let spec = variant(name);
        let outputs = fake_outputs(&spec);
        let mut files = all_files(&spec, &outputs).expect("renders");
        files.push(("expect.json".into(), expectations(&spec, &outputs)));
        let dir = root().join("tests/render").join(name);
        if update {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("snapshot dir");
        }
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        for (file, text) in &files {
            let path = dir.join(file);
            if update {
                std::fs::write(&path, text).expect("write snapshot");
                continue;
            }
            on_disk.retain(|f| f != file);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(path.display().to_string());
            }
        }
        if !update {
            stale.extend(
                on_disk
                    .iter()
                    .map(|f| format!("{} (not rendered any more)", dir.join(f).display())),
            );
        }
    }
    assert!(
        stale.is_empty(),
        "rendered files differ from their snapshots (UPDATE_SNAPSHOTS=1 cargo test --lib render, then review the diff): {stale:#?}"
    );
}

#[test]
fn web_user_data_sets_up_a_node_and_never_runs_moodle_cron() {
    for name in VARIANTS {
        let spec = variant(name);
        let text = web_user_data(&spec).expect("renders");
        let doc = parse(&text);
        assert_eq!(
            file(&doc, "/usr/local/sbin/moodle-ha-spot-watcher")
                .content
                .trim_end(),
            SPOT_WATCHER.trim_end()
        );
        assert_eq!(
            file(&doc, "/usr/local/sbin/moodle-ha-bootstrap")
                .content
                .trim_end(),
            BOOTSTRAP.trim_end()
        );
        let runcmd: Vec<String> = doc.runcmd.iter().map(|c| c.join(" ")).collect();
        assert!(
            runcmd.contains(&"systemctl enable --now moodle-ha-spot-watcher.service".to_string())
        );
        assert_eq!(
            runcmd.last().map(String::as_str),
            Some("/usr/local/sbin/moodle-ha-bootstrap")
        );
        let env = &file(&doc, "/etc/moodle-ha/node.env").content;
        assert!(env.contains("ROLE='web'\n"), "{name}");
        // The agent is the cron instance's alone.
        assert!(!env.contains("AGENT_PARAMETER"), "{name}");
        assert!(
            !doc.write_files.iter().any(|f| f.path.contains("agent")),
            "{name}"
        );
        assert_eq!(
            file(&doc, "/usr/local/lib/moodle-ha/node-lib.sh")
                .content
                .trim_end(),
            NODE_LIB.trim_end()
        );
        // The node completes the group's launch hook only after its web server started.
        let hook = format!(
            "ASG_NAME='{}'\nREADY_HOOK='{READY_HOOK}'\n",
            spec.name.clone() + "-web"
        );
        assert!(env.contains(&hook), "{env}");
        let started = BOOTSTRAP.find("systemctl restart \"$WEB_SERVICE\"");
        let completed = BOOTSTRAP.find("launch_hook continue");
        assert!(
            started.is_some() && completed > started,
            "in service only once serving"
        );
        for needle in [
            "cron.php",
            "crontab",
            "/etc/cron.d",
            ".timer",
            "install_database",
            "upgrade.php",
        ] {
            assert!(
                !text.contains(needle),
                "{name}: web user data mentions {needle}"
            );
        }
        assert!(describe_user_data(&text).starts_with("web node, Moodle "));
        let site = Site::new(&spec);
        assert!(doc.packages.iter().any(|p| p.contains("redis")) || site.os_family == "rhel");
        for ini in &site.php_ini_paths {
            let f = file(&doc, ini);
            assert!(f.defer, "{ini} is written after the packages");
            assert!(f.content.contains("max_input_vars = 5000\n"), "{ini}");
        }
        assert!(file(&doc, site.site_config_path).defer);
    }
}

/// A line that calls cron.php to switch cron or list its tasks, not to run it.
fn cron_control(line: &str) -> bool {
    ["--enable", "--disable", "--list", "--stop"]
        .iter()
        .any(|o| line.contains(&format!("cron.php {o}")))
}

#[test]
fn cron_user_data_has_exactly_one_moodle_cron_entry_as_a_file_and_the_first_boot_install() {
    for name in VARIANTS {
        let spec = variant(name);
        let site = Site::new(&spec);
        let text = cron_user_data(&spec).expect("renders");
        let doc = parse(&text);
        // The agent's calls that switch cron off and on (`--enable`, `--disable-wait`, `--list`)
        // run no cron.
        let entries: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("admin/cli/cron.php") && !cron_control(l))
            .collect();
        assert_eq!(entries.len(), 1, "{name}: {entries:?}");
        let cron = file(&doc, "/etc/cron.d/moodle");
        assert!(
            cron.content.ends_with('\n'),
            "cron.d files must end with a newline"
        );
        let line = format!(
            "* * * * * {} /usr/bin/php {}/admin/cli/cron.php >/dev/null",
            site.web_user, site.code_root
        );
        assert!(
            cron.content.lines().any(|l| l == line),
            "{name}: {}",
            cron.content
        );
        let runcmd: Vec<String> = doc.runcmd.iter().map(|c| c.join(" ")).collect();
        assert!(
            runcmd.iter().all(|c| !c.contains("cron")),
            "never appended: {runcmd:?}"
        );
        assert_eq!(
            file(&doc, "/usr/local/sbin/moodle-ha-install-site")
                .content
                .trim_end(),
            INSTALL_SITE.trim_end()
        );
        // The agent: its script, the library it shares with the boot scripts, its parameter,
        // and a service that comes back whenever it stops.
        assert_eq!(
            file(&doc, "/usr/local/sbin/moodle-ha-agent")
                .content
                .trim_end(),
            AGENT.trim_end()
        );
        assert_eq!(
            file(&doc, "/usr/local/lib/moodle-ha/node-lib.sh")
                .content
                .trim_end(),
            NODE_LIB.trim_end()
        );
        let unit = &file(&doc, "/etc/systemd/system/moodle-ha-agent.service").content;
        for line in [
            "ExecStart=/usr/local/sbin/moodle-ha-agent",
            "Restart=always",
            "After=network-online.target remote-fs.target moodle-ha-install-site.service",
        ] {
            assert!(unit.lines().any(|l| l == line), "{name}: {unit}");
        }
        assert!(BOOTSTRAP.contains("systemctl enable --now moodle-ha-agent.service"));
        let env = &file(&doc, "/etc/moodle-ha/node.env").content;
        let agent = crate::names::Names::of(&spec.name).agent_parameter();
        assert!(
            env.contains(&format!("AGENT_PARAMETER='{agent}'\n")),
            "{env}"
        );
        // No web server runs here: no site config.
        assert!(
            !doc.write_files
                .iter()
                .any(|f| f.path == site.site_config_path),
            "{name}"
        );
        assert!(doc.packages.contains(&site.cron_package.to_string()));
        assert!(
            file(&doc, "/etc/moodle-ha/node.env")
                .content
                .contains("ROLE='cron'\n")
        );
        // Nothing in it depends on the branch: a major upgrade keeps the cron instance.
        let label = describe_user_data(&text);
        assert!(label.starts_with("cron instance, "), "{label}");
        assert!(!label.contains("Moodle"), "{label}");
        let env = &file(&doc, "/etc/moodle-ha/node.env").content;
        for branch_var in ["MOODLE_VERSION=", "RELEASE_BRANCH=", "DOCUMENT_ROOT="] {
            assert!(!env.contains(branch_var), "{name}: {branch_var} in {env}");
        }
        // The site's own jobs sit next to Moodle's entry, with the node's PHP.
        for job in &spec.cron.jobs {
            let command = job.command.replacen("php ", "/usr/bin/php ", 1);
            assert!(cron.content.contains(&command), "{}", cron.content);
        }
        assert!(encode_user_data(&text).len() <= MAX_USER_DATA);
    }
}

#[test]
fn config_php_names_every_setting_the_guide_calls_critical_and_holds_no_secret() {
    for name in VARIANTS {
        let spec = variant(name);
        let text = config_php(&spec, &fake_outputs(&spec)).expect("renders");
        let require = "require_once(__DIR__ . '/lib/setup.php');";
        assert_eq!(text.matches(require).count(), 1, "{name}");
        let after = text.split(require).nth(1).unwrap_or_default();
        assert!(
            after
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with("//"))
        );
        for line in [
            r"$CFG->session_handler_class = '\core\session\redis';",
            "$CFG->sslproxy = true;",
            "$CFG->reverseproxy = false;",
            "$CFG->getremoteaddrconf = 1;",
            "$CFG->enableasyncbackup = 1;",
            r"$CFG->lock_factory = '\core\lock\db_record_lock_factory';",
            "$CFG->directorypermissions = 02770;",
            "$CFG->session_redis_acquire_lock_retry = 100;",
            "$CFG->session_redis_max_retries = 3;",
            "$CFG->dbpass    = $moodlehasecrets['dbpass'];",
            "$CFG->session_redis_auth = $moodlehasecrets['redis_auth'];",
            "    'ssl' => 'verify-full',",
            "    'dbcollation' => 'utf8mb4_unicode_ci',",
        ] {
            assert!(text.lines().any(|l| l == line), "{name}: no `{line}`");
        }
        let site = Site::new(&spec);
        assert!(text.contains(&format!("$CFG->dbtype    = '{}';", site.dbtype)));
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!code.contains("session_redis_lock_retry") && !code.contains("maxretries"));
        assert!(!code.contains("tls://") && !code.contains("'file'"));
        let host = text
            .lines()
            .find_map(|l| l.strip_prefix("$CFG->session_redis_host = '"))
            .unwrap_or_default();
        assert!(
            !host.contains(',') && !host.contains(':'),
            "bare host: {host}"
        );
    }
}

#[test]
fn config_php_marks_values_not_known_yet_and_fills_them_when_they_are() {
    let spec = variant("example");
    let text = config_php(&spec, &Outputs::default()).expect("renders");
    assert!(text.contains("$CFG->dbhost    = '<known after apply: database.endpoint>';"));
    assert!(
        text.contains("$CFG->session_redis_host = '<known after apply: cache.primary_endpoint>';")
    );
    // The boot script refuses a config.php with any `<known after apply:` left: after its two
    // substitutions there must be none, comments included.
    let at_boot = text
        .replace("<known after apply: database.endpoint>", "db.example")
        .replace(
            "<known after apply: cache.primary_endpoint>",
            "redis.example",
        );
    assert!(!at_boot.contains("<known after apply:"), "{at_boot}");
    assert!(NODE_LIB.contains(r#"*"<known after apply:"*) NODE_ERROR="#));
    assert!(BOOTSTRAP.contains(r#"release_config "$(readlink "$CODE_ROOT")" || fail"#));
    let filled = config_php(&spec, &fake_outputs(&spec)).expect("renders");
    assert!(
        !filled.contains("<known after apply: database")
            && !filled.contains("<known after apply: cache")
    );
    // The user data always carries the placeholders: the node fills them in at boot, so the
    // launch template does not depend on any endpoint.
    let doc = parse(&web_user_data(&spec).expect("renders"));
    assert_eq!(
        file(&doc, "/etc/moodle-ha/config.php.in")
            .content
            .trim_end(),
        text.trim_end()
    );
    assert!(
        NODE_LIB
            .contains(r#"config=${config//"<known after apply: database.endpoint>"/"$DB_HOST"}"#)
    );
    assert!(NODE_LIB.contains(
        r#"config=${config//"<known after apply: cache.primary_endpoint>"/"$REDIS_HOST"}"#
    ));
}

#[test]
fn each_branch_and_distribution_gets_its_own_layout() {
    let s = Site::new(&variant("mysql84-apache-ubuntu-moodle51"));
    assert_eq!(
        (s.code_root.as_str(), s.document_root.as_str()),
        ("/var/www/moodle", "/var/www/moodle/public")
    );
    assert_eq!(
        (s.dbtype, s.web_service, s.web_user),
        ("mysqli", "apache2", "www-data")
    );
    assert_eq!(s.fpm_socket, "/run/php/php8.3-fpm.sock");
    let s = Site::new(&variant("aurora-nginx-al2023"));
    assert_eq!(
        (s.dbtype, s.db_kind, s.db_id.as_str()),
        ("auroramysql", "cluster", "moodle-aurora-db-cluster")
    );
    assert_eq!(
        (s.os_family, s.web_user, s.fpm_socket.as_str()),
        ("rhel", "apache", "/run/php-fpm/www.sock")
    );
    assert_eq!(s.php_version, "8.4");
    assert!(s.packages.contains(&"php8.4-mysqlnd".to_string()));
    assert_eq!(s.document_root, s.code_root, "5.0 serves the code root");
    let s = Site::new(&variant("mysql80-moodle45"));
    assert_eq!(
        (
            s.code_root.as_str(),
            s.dataroot.as_str(),
            s.db_prefix.as_str()
        ),
        ("/srv/moodle", "/srv/moodledata", "m45_")
    );
    assert!(s.deny_internal_paths);
}

#[test]
fn debian_12_nodes_get_php_8_2_and_everything_from_debians_archive() {
    for (name, server, service) in [
        ("mysql84-nginx-debian12-moodle45", "nginx", "nginx"),
        ("mysql84-apache-debian12-moodle51", "apache2", "apache2"),
    ] {
        let spec = variant(name);
        let s = Site::new(&spec);
        assert_eq!((s.os, s.os_family), ("debian-12", "debian"), "{name}");
        assert_eq!(s.php_version, "8.2", "{name}");
        assert_eq!(
            (s.fpm_socket.as_str(), s.fpm_service.as_str(), s.web_user),
            ("/run/php/php8.2-fpm.sock", "php8.2-fpm", "www-data")
        );
        assert_eq!(s.web_service, service);
        assert_eq!((s.cron_package, s.cron_service), ("cron", "cron"));
        for p in [
            server,
            "php8.2-fpm",
            "php8.2-cli",
            "php8.2-mysql",
            "php8.2-redis",
            "php8.2-intl",
            "php8.2-soap",
            "awscli",
            "stunnel4",
            "nfs-common",
        ] {
            assert!(s.packages.iter().any(|x| x == p), "{name}: {p} missing");
        }
        // efs-utils is not in Debian's archive (built at boot); no snap on Debian.
        assert!(!s.packages.iter().any(|x| x.contains("efs-utils")));
        for role in [web_user_data(&spec), cron_user_data(&spec)] {
            let doc = parse(&role.expect("renders"));
            let runcmd = doc.runcmd.iter().map(|c| c.join(" ")).collect::<Vec<_>>();
            assert!(
                !runcmd.iter().any(|c| c.contains("snap")),
                "{name}: no snapd on Debian: {runcmd:?}"
            );
        }
    }
    let ubuntu =
        parse(&web_user_data(&variant("mysql84-apache-ubuntu-moodle51")).expect("renders"));
    assert!(
        ubuntu
            .runcmd
            .iter()
            .any(|c| c.join(" ").contains("snap install aws-cli --classic"))
    );
}

#[test]
fn spec_text_is_quoted_for_the_shell_and_for_php() {
    let spec = variant("mysql84-apache-ubuntu-moodle51");
    let doc = parse(&cron_user_data(&spec).expect("renders"));
    let env = &file(&doc, "/etc/moodle-ha/node.env").content;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("node.env");
    std::fs::write(&path, env).expect("write env");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            ". '{}' && printf '%s|%s' \"$SITE_NAME\" \"$DB_GRANTS\"",
            path.display()
        ))
        .output()
        .expect("bash");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("O'Brien College Moodle|{DB_GRANTS}")
    );
    assert_eq!(php_quote(r"a'b\c".into()), r"a\'b\\c");
}

/// Writes an executable stub.
fn stub(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).expect("write stub");
    let _ = Command::new("chmod").arg("+x").arg(&path).status();
}

/// Runs the watcher with stub `curl` / `aws`; `notice` is the metadata path that answers.
fn run_watcher(notice: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("calls.log");
    // Fake IMDSv2: a token from PUT /latest/api/token; metadata only with that token.
    stub(
        dir.path(),
        "curl",
        &format!(
            r#"echo "curl $*" >> '{log}'
args="$*"
for a in "$@"; do [[ $a == http* ]] && url=$a; done
if [[ $args == *"-X PUT"* && $url == */latest/api/token ]]; then echo TOKEN-1; exit 0; fi
[[ $args == *"X-aws-ec2-metadata-token: TOKEN-1"* ]] || exit 22
case "$url" in
  */meta-data/{notice}) echo '{{"action":"terminate"}}' ;;
  */meta-data/instance-id) echo i-0abc ;;
  */meta-data/placement/region) echo eu-west-1 ;;
  */meta-data/tags/instance/aws:autoscaling:groupName) echo stack-web ;;
  *) exit 22 ;;
esac"#,
            log = log.display()
        ),
    );
    stub(
        dir.path(),
        "aws",
        &format!(
            r#"echo "aws $*" >> '{log}'
if [[ $2 == describe-auto-scaling-groups ]]; then echo arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/stack-web/1; fi"#,
            log = log.display()
        ),
    );
    stub(dir.path(), "logger", "exit 0");
    // The test never waits: the first pause ends the watcher (as systemd's stop would).
    stub(dir.path(), "sleep", "kill -TERM $PPID; exit 0");
    let script = dir.path().join("watcher.sh");
    std::fs::write(&script, SPOT_WATCHER).expect("write watcher");
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let status = Command::new("bash")
        .arg(&script)
        .env("PATH", path)
        .env("MOODLE_HA_IMDS", "http://imds.test")
        .status()
        .expect("run bash");
    (
        status.success(),
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

#[test]
fn the_watcher_leaves_the_target_group_on_an_interruption_or_rebalance_notice() {
    for notice in ["spot/instance-action", "events/recommendations/rebalance"] {
        let (left, calls) = run_watcher(notice);
        assert!(left, "{notice}: the watcher exits once out\n{calls}");
        let lines: Vec<&str> = calls.lines().collect();
        // A session token first, then every metadata read carries it.
        assert!(
            lines[0].contains("-X PUT http://imds.test/latest/api/token")
                && lines[0].contains("X-aws-ec2-metadata-token-ttl-seconds: 300"),
            "{calls}"
        );
        for l in lines.iter().filter(|l| l.contains("/latest/meta-data/")) {
            assert!(l.contains("X-aws-ec2-metadata-token: TOKEN-1"), "{l}");
        }
        assert!(
            calls.contains(&format!("http://imds.test/latest/meta-data/{notice}")),
            "{calls}"
        );
        assert!(
            calls.contains("aws elbv2 deregister-targets --region eu-west-1 --target-group-arn arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/stack-web/1 --targets Id=i-0abc"),
            "{calls}"
        );
    }
}

#[test]
fn without_a_notice_the_watcher_keeps_the_node_in_service() {
    let (left, calls) = run_watcher("nothing-answers-here");
    assert!(!left, "still watching when stopped\n{calls}");
    assert!(calls.contains("meta-data/spot/instance-action"), "{calls}");
    assert!(
        calls.contains("meta-data/events/recommendations/rebalance"),
        "{calls}"
    );
    assert!(!calls.contains("deregister-targets"), "{calls}");
}

/// The values of `node.env` the boot scripts read, by name.
fn node_env(user_data: &str) -> std::collections::BTreeMap<String, String> {
    let doc = parse(user_data);
    file(&doc, "/etc/moodle-ha/node.env")
        .content
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

/// Every name a node looks up at boot (database, Redis, file system, secrets, Auto Scaling
/// group and hook) is one the desired state creates, for every rendered variant and both
/// roles: the renderer and the desired state take them from the same place.
#[test]
fn every_name_a_node_looks_up_is_one_the_desired_state_creates() {
    use crate::desired::{Facts, ImageFacts, desired_state};
    use crate::model::Props;
    for name in VARIANTS {
        let spec = variant(name);
        let mut facts = Facts::default();
        facts.images.insert(
            spec.web.ami.clone(),
            ImageFacts {
                id: "ami-1".into(),
                root_device_name: "/dev/sda1".into(),
                architecture: "x86_64".into(),
                name: String::new(),
            },
        );
        let desired = desired_state(&spec, &facts);
        let props: Vec<&Props> = desired.resources.values().collect();
        let names = crate::names::Names::of(&spec.name);
        for user_data in [web_user_data(&spec), cron_user_data(&spec)] {
            let env = node_env(&user_data.expect("renders"));
            let get = |k: &str| {
                env.get(k)
                    .cloned()
                    .unwrap_or_else(|| panic!("{name}: no {k}"))
            };
            let db = get("DB_ID");
            let found_db = props.iter().any(|p| match (get("DB_KIND").as_str(), p) {
                ("cluster", Props::DbCluster(c)) => c.identifier == db,
                ("instance", Props::DbInstance(i)) => i.identifier == db && i.cluster.is_none(),
                _ => false,
            });
            assert!(found_db, "{name}: database `{db}` is not created");
            let redis = get("REDIS_GROUP");
            assert!(
                props
                    .iter()
                    .any(|p| matches!(p, Props::ReplicationGroup(r) if r.id == redis)),
                "{name}: replication group `{redis}`"
            );
            let group = get("ASG_NAME");
            assert!(
                props
                    .iter()
                    .any(|p| matches!(p, Props::AutoScalingGroup(g) if g.name == group)),
                "{name}: group `{group}`"
            );
            // The hook the adapter creates on that group.
            assert_eq!(get("READY_HOOK"), crate::names::READY_HOOK, "{name}");
            let token = get("EFS_TOKEN");
            assert!(
                desired
                    .resources
                    .keys()
                    .any(|k| k.kind == crate::model::Kind::FileSystem
                        && names.efs_creation_token(&k.name) == token),
                "{name}: file system with creation token `{token}`"
            );
            for secret in ["SECRET_DB_USER", "SECRET_REDIS_AUTH", "SECRET_ADMIN"] {
                let wanted = get(secret);
                assert!(
                    props
                        .iter()
                        .any(|p| matches!(p, Props::Secret(s) if s.name == wanted)),
                    "{name}: secret `{wanted}` ({secret})"
                );
            }
        }
    }
}
