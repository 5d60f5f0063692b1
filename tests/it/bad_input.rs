//! A malformed spec is an error naming the field and line, exit code 1, and no AWS call.

use crate::harness::*;
use std::net::TcpListener;

/// An endpoint that counts connections instead of answering them.
struct Tripwire(TcpListener);

impl Tripwire {
    fn new() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        Self(l)
    }
    fn url(&self) -> String {
        format!("http://{}", self.0.local_addr().expect("addr"))
    }
    fn connections(&self) -> usize {
        std::iter::from_fn(|| self.0.accept().ok()).count()
    }
}

#[test]
fn malformed_specs_name_field_and_line_and_make_no_aws_call() {
    let cases: Vec<(&str, Box<dyn Fn(String) -> String>, &str)> = vec![
        (
            "bad yaml",
            Box::new(|t: String| t.replace("  min: 2", "  min: [2")),
            "web.min",
        ),
        (
            "unknown field",
            Box::new(|t: String| t.replace("  min: 2", "  min: 2\n  minimum: 2")),
            "web.minimum: unknown field `minimum`",
        ),
        (
            "bad cidr",
            Box::new(|t: String| t.replace("10.40.16.0/20", "10.40.16.0/40")),
            "network.create.private_subnet_cidrs[0]: `10.40.16.0/40` is not an IPv4 CIDR block",
        ),
    ];
    for (name, edit, expected) in cases {
        let stack = example_spec("bad-input", edit);
        let text = std::fs::read_to_string(&stack.path).expect("read");
        let wire = Tripwire::new();
        for command in ["validate", "plan", "apply"] {
            let mut args = vec![command];
            if command == "apply" {
                args.push("--yes");
            }
            args.push(stack.path.to_str().expect("path"));
            let out = moodle_ha_at(&wire.url(), &args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{name} / {command}: {err}");
            assert!(
                err.contains(expected),
                "{name} / {command}: expected `{expected}` in:\n{err}"
            );
            let line = err
                .split("(line ")
                .nth(1)
                .and_then(|r| r.split(')').next())
                .and_then(|n| n.parse::<usize>().ok());
            let line = line.unwrap_or_else(|| panic!("{name}: no line in {err}"));
            let field = expected
                .split(':')
                .next()
                .unwrap_or_default()
                .rsplit('.')
                .next()
                .unwrap_or_default();
            let field = field.split('[').next().unwrap_or_default();
            assert!(
                text.lines()
                    .nth(line - 1)
                    .is_some_and(|l| l.contains(field)),
                "{name}: line {line} is not about `{field}`"
            );
        }
        assert_eq!(wire.connections(), 0, "{name}: an AWS call was made");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_availability_zone_the_region_lacks_is_named_at_plan_time_and_nothing_changes() {
    // `eu-west-1z` has the region's prefix, so only AWS can say it is not one of its zones.
    let stack = example_spec(&unique("it-az"), |t| {
        t.replace(
            "[eu-west-1a, eu-west-1b, eu-west-1c]",
            "[eu-west-1a, eu-west-1b, eu-west-1z]",
        )
    });
    let out = moodle_ha(&["apply", "--yes", stack.path.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("network.create.availability_zones[2]: `eu-west-1z` is not an availability zone of `eu-west-1` (it has eu-west-1a, eu-west-1b, eu-west-1c) (line 15)"),
        "{err}"
    );
    assert!(
        tagged_counts(&stack.name)
            .await
            .iter()
            .all(|(_, n)| *n == 0),
        "nothing was created"
    );
}
