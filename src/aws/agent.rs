//! Commands run on the cron instance, through its agent (`userdata/agent.sh`): the CLI writes
//! a request (`{"id","action","commit","sha256"}`) to the SSM parameter
//! [`crate::names::Names::agent_parameter`]; the
//! agent, polling it, claims the request's ID once on the shared disk (so it runs exactly
//! once, however often the CLI asks), streams the output to `agent/output/<id>.log` in the
//! stack's bucket and writes the outcome to `agent/results/<id>.json`. The CLI's IDs are
//! `<workflow>.<action>.<attempt>`: asking again for an action whose attempt succeeded returns
//! its outcome without writing anything, and an attempt in flight is waited for, so a CLI
//! killed and run again never runs an action twice; a failed attempt is retried under the
//! next number when the operator runs `apply` again.

use super::Aws;
use super::errors::is_code;
use super::wait::{self, Poll};
use anyhow::{Context, bail};
use aws_sdk_ssm::types::{ParameterType, Tag};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Duration;

/// One command for the agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Unique and deterministic per workflow step (`<workflow>.<step>`).
    pub id: String,
    /// `maintenance-on`, `maintenance-off`, `cron-pause`, `cron-resume`, `check-plugins`,
    /// `upgrade`, `switch`, `smoke`.
    pub action: String,
    /// The release the action concerns (40 hex digits), or empty.
    pub commit: String,
    /// That release's archive's SHA-256 (hex), or empty: the agent checks the archive
    /// `releases/<commit>.tar.gz` against it (the record may still name another release).
    #[serde(default)]
    pub sha256: String,
}

/// What the agent reports when an action ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The request's ID.
    pub id: String,
    /// The action.
    pub action: String,
    /// `ok`, `failed`, or `interrupted` (the agent was stopped while it ran).
    pub status: String,
    /// The action's exit code.
    #[serde(default)]
    pub exit_code: i64,
    /// When it started and ended (RFC 3339).
    #[serde(default)]
    pub started: String,
    /// When it ended.
    #[serde(default)]
    pub ended: String,
    /// One line on what happened.
    #[serde(default)]
    pub message: String,
}

impl Outcome {
    /// True when the action did what it does.
    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// The agent of one stack.
pub struct Agent<'a> {
    aws: &'a Aws,
    stack: String,
    bucket: String,
}

impl<'a> Agent<'a> {
    /// The agent of `stack`, whose bucket is `bucket`.
    pub fn new(aws: &'a Aws, stack: &str, bucket: &str) -> Self {
        Self {
            aws,
            stack: stack.to_string(),
            bucket: bucket.to_string(),
        }
    }

    /// Runs `request` on the cron instance (or finds its outcome from an earlier ask) and
    /// waits up to `max` for the outcome; each new piece of the action's output goes to
    /// `output` as it arrives. An outcome other than `ok` is an error naming the action, the
    /// agent's message and the output's last lines.
    pub async fn run(
        &self,
        request: &Request,
        max: Duration,
        output: &(dyn Fn(&str) + Sync),
    ) -> anyhow::Result<Outcome> {
        // `<id>.<n>`: the first attempt whose outcome is not a failure. An attempt that
        // succeeded is not asked again; one that failed (or was cut short by the agent's
        // stop) is retried under the next number, once the operator runs `apply` again.
        let mut n = 1;
        let request = loop {
            let attempt = Request {
                id: format!("{}.{n}", request.id),
                ..request.clone()
            };
            match self.outcome(&attempt.id).await? {
                Some(done) if done.ok() => return Ok(done),
                Some(_) => n += 1,
                None => break attempt,
            }
        };
        let request = &request;
        self.ask(request).await?;
        let seen = Mutex::new(0usize);
        let log = Mutex::new(String::new());
        let found: Mutex<Option<Outcome>> = Mutex::new(None);
        let what = format!("the cron instance: {} ({})", request.action, request.id);
        let waited = wait::until(&self.aws.progress, &what, max, || async {
            let from = seen.lock().map(|s| *s).unwrap_or(0);
            if let Some(more) = self.output_from(&request.id, from).await? {
                if let Ok(mut s) = seen.lock() {
                    *s += more.len();
                }
                let text = String::from_utf8_lossy(&more).into_owned();
                output(&text);
                if let Ok(mut l) = log.lock() {
                    l.push_str(&text);
                }
            }
            Ok(match self.outcome(&request.id).await? {
                Some(o) => {
                    if let Ok(mut f) = found.lock() {
                        *f = Some(o);
                    }
                    Poll::Ready
                }
                None => Poll::Pending(if from == 0 { "asked" } else { "running" }.into()),
            })
        })
        .await;
        if let Err(e) = waited {
            bail!(
                "{e}: the agent on the cron instance did not report (is the cron instance running? on it, `journalctl -u moodle-ha-agent`)"
            );
        }
        let outcome = found
            .into_inner()
            .ok()
            .flatten()
            .context("the agent's outcome was lost")?;
        let log = log.into_inner().unwrap_or_default();
        check(outcome, &log)
    }

    /// Writes the request parameter (created with the stack's tags the first time).
    async fn ask(&self, request: &Request) -> anyhow::Result<()> {
        let name = crate::names::Names::of(&self.stack).agent_parameter();
        let value = serde_json::to_string(request).context("the agent request")?;
        let created = self
            .aws
            .ssm
            .put_parameter()
            .name(&name)
            .value(&value)
            .r#type(ParameterType::String)
            .set_tags(Some(self.tags()?))
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "ParameterAlreadyExists") => {
                self.aws
                    .ssm
                    .put_parameter()
                    .name(&name)
                    .value(&value)
                    .r#type(ParameterType::String)
                    .overwrite(true)
                    .send()
                    .await
                    .with_context(|| format!("PutParameter {name} (the agent request)"))?;
                Ok(())
            }
            Err(e) => Err(e).with_context(|| format!("PutParameter {name} (the agent request)")),
        }
    }

    fn tags(&self) -> anyhow::Result<Vec<Tag>> {
        [
            (super::tags::STACK_TAG, self.stack.as_str()),
            (super::tags::RESOURCE_TAG, "agent/request"),
        ]
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build().context("tag"))
        .collect()
    }

    /// The outcome of request `id`, when the agent has written it.
    pub async fn outcome(&self, id: &str) -> anyhow::Result<Option<Outcome>> {
        let key = format!("agent/results/{id}.json");
        let Some(bytes) = self.get(&key).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("s3://{}/{key} is not an agent outcome", self.bucket))
    }

    /// The output of request `id` from byte `from` on, when there is more.
    async fn output_from(&self, id: &str, from: usize) -> anyhow::Result<Option<Vec<u8>>> {
        let key = format!("agent/output/{id}.log");
        Ok(self
            .get(&key)
            .await?
            .map(|b| b.get(from.min(b.len())..).unwrap_or_default().to_vec())
            .filter(|b| !b.is_empty()))
    }

    /// The object `key`, whole (the logs are small, and a byte range past an object's end is
    /// an error on S3), `None` when it does not exist yet.
    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        super::s3::object(self.aws, &self.bucket, key).await
    }
}

/// `outcome` when it is `ok`, else the error a person needs: the action, the agent's message,
/// the output's last lines.
fn check(outcome: Outcome, log: &str) -> anyhow::Result<Outcome> {
    if outcome.ok() {
        return Ok(outcome);
    }
    let tail: Vec<&str> = log.lines().rev().take(20).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    bail!(
        "on the cron instance, `{}` ({}) ended {} (exit {}): {}{}",
        outcome.action,
        outcome.id,
        outcome.status,
        outcome.exit_code,
        outcome.message,
        if tail.is_empty() {
            String::new()
        } else {
            format!("\n--- its output's last lines ---\n{}", tail.join("\n"))
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: &str) -> Outcome {
        Outcome {
            id: "upgrade-1.upgrade".into(),
            action: "upgrade".into(),
            status: status.into(),
            exit_code: if status == "ok" { 0 } else { 1 },
            started: String::new(),
            ended: String::new(),
            message: "upgrade.php exited 1".into(),
        }
    }

    #[test]
    fn a_failed_action_is_an_error_with_its_output() {
        assert!(check(outcome("ok"), "").is_ok());
        let log = (1..=30).map(|i| format!("line {i}\n")).collect::<String>();
        let e = check(outcome("failed"), &log)
            .expect_err("failed")
            .to_string();
        assert!(
            e.contains("`upgrade` (upgrade-1.upgrade) ended failed (exit 1)"),
            "{e}"
        );
        assert!(e.contains("upgrade.php exited 1"), "{e}");
        assert!(
            e.contains("line 30") && e.contains("line 11") && !e.contains("line 10\n"),
            "{e}"
        );
        let e = check(outcome("interrupted"), "")
            .expect_err("interrupted")
            .to_string();
        assert!(e.contains("ended interrupted"), "{e}");
    }

    #[test]
    fn the_outcome_reads_as_the_agent_writes_it() {
        let text = r#"{"id":"u.smoke","action":"smoke","commit":"","status":"ok","exit_code":0,"started":"2026-12-06T15:00:00Z","ended":"2026-12-06T15:00:03Z","message":"schema ok"}"#;
        let o: Outcome = serde_json::from_str(text).expect("parses");
        assert!(o.ok());
        assert_eq!(o.action, "smoke");
    }
}
