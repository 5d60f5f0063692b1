//! API calls per plan: applies `stacks/example.yaml` under a unique stack name to the emulator,
//! then runs a no-op `plan --output json` of it and prints the AWS requests that plan sent per
//! service and operation (the CLI's own counts), with the total.
//!
//! The plan's requests also pass through a small recording proxy on 127.0.0.1 (bytes are
//! forwarded unchanged), which reads from each request the resource it names (an ID, ARN or
//! name in the query, path or JSON body). That tells, per operation, whether it was one
//! describe of a whole kind (it names no resource), one call per resource (calls that have no
//! batch form), or a repeat: the same operation sent more than once for the same resource.
//!
//! `cargo bench --bench api_calls`

mod common;

use anyhow::{Context, bail};
use common::{Emulator, print_table};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

fn main() {
    common::main_with(run);
}

fn run() -> anyhow::Result<()> {
    println!("api_calls: AWS requests of a no-op `moodle-ha plan` of stacks/example.yaml");
    println!("machine: {}", common::machine());
    let emulator = Emulator::connect()?;
    println!("emulator: {}", emulator.endpoint);
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let name = common::unique("bench-api");
    let spec = common::write_example(dir.path(), &name)?;
    let spec_arg = spec.to_string_lossy().to_string();

    // Apply (straight to the emulator), counting its requests too.
    let apply = common::run_ok(
        &emulator.endpoint,
        &["apply", "--yes", "--output", "json", &spec_arg],
    )?;
    let apply_doc: serde_json::Value = serde_json::from_slice(&apply.stdout)
        .context("`apply --output json` did not print a JSON document")?;
    let created = apply_doc["summary"]["create"].as_u64().unwrap_or(0);
    let apply_total = apply_doc["api_calls"]["total"].as_u64().unwrap_or(0);
    println!("stack: {name}: applied, {created} resources created with {apply_total} AWS requests");

    // The no-op plan, through the recording proxy.
    let proxy = Proxy::start(&emulator.endpoint)?;
    let plan = common::run_ok(&proxy.endpoint, &["plan", "--output", "json", &spec_arg])?;
    let requests = proxy.requests();
    let doc: serde_json::Value = serde_json::from_slice(&plan.stdout)
        .context("`plan --output json` did not print a JSON document")?;
    let summary = &doc["summary"];
    let unchanged = summary["unchanged"].as_u64().unwrap_or(0);
    let changes: u64 = ["create", "update", "replace", "delete"]
        .iter()
        .map(|k| summary[k].as_u64().unwrap_or(0))
        .sum();
    let kinds: BTreeSet<&str> = doc["unchanged"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k.as_str()?.split('/').next())
                .collect()
        })
        .unwrap_or_default();
    println!(
        "plan: {} ({unchanged} resources of {} kinds unchanged, {changes} changes)",
        if changes == 0 {
            "no-op"
        } else {
            "NOT a no-op: the counts below include planning those changes"
        },
        kinds.len()
    );

    let calls = &doc["api_calls"];
    let total = calls["total"].as_u64().unwrap_or(0);
    let retries = calls["retries"].as_u64().unwrap_or(0);
    let Some(by_operation) = calls["by_operation"].as_array() else {
        bail!("the plan document has no api_calls.by_operation");
    };

    // Per operation: the CLI's count, and what the proxy saw.
    let mut seen: BTreeMap<(String, String), Vec<&Request>> = BTreeMap::new();
    for r in &requests {
        seen.entry((r.service.clone(), r.operation.clone()))
            .or_default()
            .push(r);
    }
    let mut rows = Vec::new();
    let mut whole_kind = (0, 0, 0); // requests, operations, further pages
    let mut per_resource: Vec<String> = Vec::new();
    let mut per_resource_requests = 0;
    let mut repeats: Vec<String> = Vec::new();
    let mut batchable: Vec<String> = Vec::new();
    let mut excess = 0;
    for op in by_operation {
        let service = op["service"].as_str().unwrap_or("?").to_string();
        let operation = op["operation"].as_str().unwrap_or("?").to_string();
        let count = op["count"].as_u64().unwrap_or(0);
        let recorded = seen
            .get(&(service.clone(), operation.clone()))
            .cloned()
            .unwrap_or_default();
        let label = format!("{service} {operation}");
        let a = analyse(&recorded);
        let pages = match a.more_pages {
            0 => String::new(),
            1 => ", 1 more page".to_string(),
            n => format!(", {n} more pages"),
        };
        let mut reads = match a.shape {
            Shape::Unseen => "not seen by the proxy".to_string(),
            Shape::WholeKind => {
                whole_kind.0 += count;
                whole_kind.1 += 1;
                whole_kind.2 += a.more_pages;
                format!("the whole kind{pages}")
            }
            Shape::PerResource => {
                per_resource_requests += count;
                per_resource.push(format!("{label} ×{count}"));
                format!("one per resource ({}){pages}", a.names)
            }
            Shape::List => {
                per_resource_requests += count;
                per_resource.push(format!("{label} ×{count}"));
                if a.requests > 1 && a.names <= 10 {
                    excess += a.requests - 1;
                    batchable.push(format!(
                        "{label}: {} names in {} requests, where one request takes a list",
                        a.names, a.requests
                    ));
                }
                format!(
                    "a list of names ({} in {} request{}){pages}",
                    a.names,
                    a.requests,
                    if a.requests == 1 { "" } else { "s" }
                )
            }
        };
        for r in &a.repeats {
            if r.identical {
                excess += r.times - 1;
                repeats.push(format!(
                    "{label}: {} ×{}, identical requests",
                    r.resource, r.times
                ));
                reads.push_str(&format!("; REPEATED ×{} (identical)", r.times));
            } else {
                repeats.push(format!(
                    "{label}: {} ×{}, one each for {}",
                    r.resource,
                    r.times,
                    r.differing.join(" | ")
                ));
                reads.push_str(&format!("; ×{} for one resource (see below)", r.times));
            }
        }
        rows.push(vec![service, operation, count.to_string(), reads]);
    }
    println!();
    print_table(
        &["service", "operation", "requests", "what they read"],
        &rows,
    );
    println!();
    println!(
        "total: {total} requests ({retries} retries) in {} operations, for {unchanged} resources of {} kinds",
        by_operation.len(),
        kinds.len()
    );
    println!(
        "against the target (one paginated describe per kind, plus the per-resource calls that have no batch form):"
    );
    println!(
        "  whole-kind describes: {} requests in {} operations ({} further pages)",
        whole_kind.0, whole_kind.1, whole_kind.2
    );
    println!(
        "  per-resource calls:   {per_resource_requests} requests in {} operations:",
        per_resource.len()
    );
    for chunk in per_resource.chunks(3) {
        println!("    {}", chunk.join(", "));
    }
    if repeats.is_empty() {
        println!("  called more than once for the same resource: none");
    } else {
        println!("  called more than once for the same resource:");
        for r in &repeats {
            println!("    {r}");
        }
    }
    if !batchable.is_empty() {
        println!("  sent more often than their list form needs:");
        for b in &batchable {
            println!("    {b}");
        }
    }
    println!(
        "  above the target: {excess} request{} (identical repeats, and list-form calls that one request would cover)",
        if excess == 1 { "" } else { "s" }
    );
    if requests.len() as u64 != total {
        println!(
            "note: the CLI counted {total} requests and the proxy {}; the analysis covers what the proxy saw",
            requests.len()
        );
    }
    if emulator.is_shared() {
        common::destroy(&emulator.endpoint, &spec)?;
        println!("stack {name} destroyed (the emulator keeps running)");
    }
    Ok(())
}

/// How one operation's requests read the stack.
struct Analysis {
    shape: Shape,
    /// Requests that are not further pages of an earlier one.
    requests: usize,
    /// Further pages.
    more_pages: usize,
    /// Distinct resources named across the requests.
    names: usize,
    /// Resources (or the whole kind) read by more than one request.
    repeats: Vec<Repeat>,
}

enum Shape {
    /// They name no resource: one describe of every resource of a kind (by tag or in full).
    WholeKind,
    /// Each names one resource: a call without a batch form.
    PerResource,
    /// They name resources in a list parameter (a batch form).
    List,
    /// The proxy did not see the operation (should not happen).
    Unseen,
}

/// A resource read by more than one request (further pages of one read do not count).
struct Repeat {
    resource: String,
    times: usize,
    /// All the requests were the same.
    identical: bool,
    /// Otherwise the parameters not common to all of them.
    differing: Vec<String>,
}

fn analyse(requests: &[&Request]) -> Analysis {
    let firsts: Vec<&Request> = requests.iter().copied().filter(|r| !r.next_page).collect();
    // Resources named: each value of a list parameter; otherwise each request's set of names.
    let list = firsts.iter().any(|r| r.is_list());
    let names: BTreeSet<String> = requests
        .iter()
        .filter(|r| !r.names.is_empty())
        .flat_map(|r| {
            if list {
                r.names
                    .iter()
                    .map(|n| n.split_once('=').map_or(n.as_str(), |x| x.1).to_string())
                    .collect()
            } else {
                vec![r.names.join(",")]
            }
        })
        .collect();
    let mut by_resource: BTreeMap<String, Vec<&Request>> = BTreeMap::new();
    for r in &firsts {
        by_resource.entry(r.names.join(",")).or_default().push(r);
    }
    let repeats = by_resource
        .iter()
        .filter(|(_, rs)| rs.len() > 1)
        .map(|(resource, rs)| {
            let common: Vec<&String> = rs[0]
                .parameters
                .iter()
                .filter(|p| rs.iter().all(|r| r.parameters.contains(p)))
                .collect();
            let mut differing: Vec<String> = rs
                .iter()
                .flat_map(|r| r.parameters.iter())
                .filter(|p| !common.contains(p))
                .cloned()
                .collect();
            differing.sort();
            differing.dedup();
            Repeat {
                resource: if resource.is_empty() {
                    "the whole kind".into()
                } else {
                    resource.clone()
                },
                times: rs.len(),
                identical: differing.is_empty(),
                differing,
            }
        })
        .collect();
    let shape = if requests.is_empty() {
        Shape::Unseen
    } else if firsts.iter().all(|r| r.names.is_empty()) {
        Shape::WholeKind
    } else if list {
        Shape::List
    } else {
        Shape::PerResource
    };
    Analysis {
        shape,
        requests: firsts.len(),
        more_pages: requests.len() - firsts.len(),
        names: names.len(),
        repeats,
    }
}

/// One AWS request as the proxy read it.
#[derive(Clone, Debug)]
struct Request {
    /// Service as the CLI names it, e.g. `EC2`.
    service: String,
    /// Operation, e.g. `DescribeVpcAttribute`.
    operation: String,
    /// The parameters that name resources (IDs, ARNs, names), `key=value`, sorted; empty for
    /// a describe of a whole kind. Options, filters and pagination are left out.
    names: Vec<String>,
    /// Every parameter but the operation and API version, `key=value`, sorted.
    parameters: Vec<String>,
    /// It asks for a further page of an earlier request.
    next_page: bool,
}

impl Request {
    /// It names resources in a list parameter (`ResourceArns.member.1`, `Names.1`, …).
    fn is_list(&self) -> bool {
        self.names.iter().any(|n| {
            let key = n.split_once('=').map_or(n.as_str(), |x| x.0);
            key.split('.')
                .any(|part| part.chars().all(|c| c.is_ascii_digit()))
        })
    }
}

/// A TCP proxy on 127.0.0.1 that forwards every byte to the emulator and records the requests.
struct Proxy {
    endpoint: String,
    log: Arc<Mutex<Vec<Request>>>,
}

impl Proxy {
    fn start(upstream_url: &str) -> anyhow::Result<Self> {
        let upstream = upstream_url
            .strip_prefix("http://")
            .with_context(|| {
                format!("the recording proxy speaks plain HTTP; {upstream_url} is not http://")
            })?
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the recording proxy")?;
        let port = listener.local_addr().context("the proxy's port")?.port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = log.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let upstream = upstream.clone();
                let log = shared.clone();
                std::thread::spawn(move || {
                    if let Err(e) = relay(client, &upstream, &log) {
                        eprintln!("proxy: {e:#}");
                    }
                });
            }
        });
        Ok(Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        })
    }

    fn requests(&self) -> Vec<Request> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// Pipes one client connection to the upstream and back; parses the client's side.
fn relay(client: TcpStream, upstream: &str, log: &Mutex<Vec<Request>>) -> anyhow::Result<()> {
    let server =
        TcpStream::connect(upstream).with_context(|| format!("connecting to {upstream}"))?;
    let (mut from_server, mut to_client) = (server.try_clone()?, client.try_clone()?);
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Write);
    });
    let (mut from_client, mut to_server) = (client, server);
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from_client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        to_server.write_all(&buf[..n])?;
        pending.extend_from_slice(&buf[..n]);
        while let Some((request, used)) = parse_http(&pending) {
            if let Ok(mut l) = log.lock() {
                l.push(request);
            }
            pending.drain(..used);
        }
    }
    let _ = to_server.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}

/// One complete HTTP/1.1 request at the start of `data`, and its length; `None` until all of
/// it has arrived.
fn parse_http(data: &[u8]) -> Option<(Request, usize)> {
    let head_end = data.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&data[..head_end]);
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let (body, used) = if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        dechunk(&data[head_end..]).map(|(b, n)| (b, head_end + n))?
    } else {
        let len: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        if data.len() < head_end + len {
            return None;
        }
        (data[head_end..head_end + len].to_vec(), head_end + len)
    };
    let body = String::from_utf8_lossy(&body).to_string();
    Some((describe(&method, &target, &headers, &body), used))
}

fn dechunk(data: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = data[at..].windows(2).position(|w| w == b"\r\n")? + at;
        let size_text = String::from_utf8_lossy(&data[at..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            // Trailers (none expected) end with an empty line.
            let end = data[at..].windows(2).position(|w| w == b"\r\n")? + at;
            return Some((body, end + 2));
        }
        if data.len() < at + size + 2 {
            return None;
        }
        body.extend_from_slice(&data[at..at + size]);
        at += size + 2;
    }
}

/// The service (from the signature's credential scope), operation and named resource.
fn describe(method: &str, target: &str, headers: &BTreeMap<String, String>, body: &str) -> Request {
    let signing = headers
        .get("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("?");
    let service = match signing {
        "ec2" => "EC2",
        "elasticfilesystem" => "EFS",
        "rds" => "RDS",
        "elasticache" => "ElastiCache",
        "secretsmanager" => "Secrets Manager",
        "ssm" => "SSM",
        "iam" => "IAM",
        "elasticloadbalancing" => "Elastic Load Balancing v2",
        "autoscaling" => "Auto Scaling",
        "acm" => "ACM",
        other => other,
    }
    .to_string();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut params: Vec<(String, String)> = Vec::new();
    let operation;
    if let Some(t) = headers.get("x-amz-target") {
        // JSON protocol (Secrets Manager, SSM): the operation in a header, parameters in JSON.
        operation = t.rsplit('.').next().unwrap_or(t).to_string();
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(body) {
            for (k, v) in map {
                match v {
                    serde_json::Value::Array(items) => {
                        for (i, item) in items.iter().enumerate() {
                            params.push((format!("{k}.{}", i + 1), scalar(item)));
                        }
                    }
                    v => params.push((k, scalar(&v))),
                }
            }
        }
    } else if method == "POST" && form(body).iter().any(|(k, _)| k == "Action") {
        // Query protocol (EC2, RDS, ElastiCache, IAM, ELBv2, Auto Scaling).
        params = form(body);
        operation = params
            .iter()
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
    } else {
        // REST (EFS): the operation and the resource are in the path.
        params = form(query);
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let shape: Vec<&str> = segments
            .iter()
            .map(|s| if looks_like_id(s) { "{id}" } else { s })
            .collect();
        for s in segments.iter().filter(|s| looks_like_id(s)) {
            params.push(("PathId".into(), s.to_string()));
        }
        operation = match (method, &shape[1.min(shape.len())..]) {
            ("GET", ["file-systems"]) => "DescribeFileSystems".to_string(),
            ("GET", ["file-systems", "{id}", "lifecycle-configuration"]) => {
                "DescribeLifecycleConfiguration".to_string()
            }
            ("GET", ["file-systems", "{id}", "backup-policy"]) => {
                "DescribeBackupPolicy".to_string()
            }
            ("GET", ["mount-targets"]) => "DescribeMountTargets".to_string(),
            ("GET", ["mount-targets", "{id}", "security-groups"]) => {
                "DescribeMountTargetSecurityGroups".to_string()
            }
            ("GET", ["resource-tags", "{id}"]) => "ListTagsForResource".to_string(),
            _ => format!("{method} /{}", shape.join("/")),
        };
    }
    let mut all: Vec<String> = params
        .iter()
        .filter(|(k, _)| k != "Action" && k != "Version")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    all.sort();
    Request {
        service,
        operation,
        names: resource_of(&params),
        parameters: all,
        next_page: params
            .iter()
            .any(|(k, v)| matches!(k.as_str(), "NextToken" | "Marker") && !v.is_empty()),
    }
}

/// The parameters that name a resource, `key=value`, sorted; options, filters and pagination
/// are left out.
fn resource_of(params: &[(String, String)]) -> Vec<String> {
    let mut named: Vec<String> = params
        .iter()
        .filter(|(k, _)| {
            let base = k
                .split('.')
                .find(|part| !part.is_empty() && !part.chars().all(|c| c.is_ascii_digit()))
                .unwrap_or(k);
            let option = matches!(
                base,
                "Action"
                    | "Version"
                    | "NextToken"
                    | "Marker"
                    | "MaxRecords"
                    | "MaxResults"
                    | "MaxItems"
                    | "PageSize"
                    | "Filter"
                    | "Filters"
                    | "Source"
                    | "WithDecryption"
                    | "IncludeShared"
                    | "ShowCacheNodeInfo"
                    | "Attribute"
            );
            !option
                && (base.ends_with("Id")
                    || base.ends_with("Ids")
                    || base.ends_with("Arn")
                    || base.ends_with("Arns")
                    || base.ends_with("Name")
                    || base.ends_with("Names")
                    || base.ends_with("Identifier")
                    || base.ends_with("Token"))
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    named.sort();
    named
}

fn looks_like_id(segment: &str) -> bool {
    ["fs-", "fsmt-", "fsap-", "arn:", "arn%3A"]
        .iter()
        .any(|p| segment.starts_with(p))
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `a=b&c=d`, percent-decoded.
fn form(text: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}
