//! One writer per stack: `apply` and `destroy` hold a lock kept in AWS itself, an SSM
//! parameter `/moodle-ha/<stack>/lock` created only if absent. A second run fails fast, naming
//! the holder and since when. A lock left by a run on this machine whose process is gone is
//! taken over; any other needs `--force-unlock`. `plan` and `drift` take no lock.
//!
//! The lock is only ever held for the length of a workflow, through [`hold`]: it is released
//! however the workflow ends, with a value, an error or a panic. A signal (SIGINT, SIGTERM)
//! ends the workflow through cancellation (`commands::interrupt`), so it passes there too.

use super::Aws;
use super::errors::is_code;
use anyhow::{Context, bail};
use aws_sdk_ssm::types::{ParameterType, Tag};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// Who holds a stack's lock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    /// `user@host`.
    pub who: String,
    /// The host, to tell whether the process can be checked.
    pub host: String,
    /// The process ID on that host.
    pub pid: u32,
    /// The command, e.g. `apply`.
    pub command: String,
    /// When it was taken (RFC 3339).
    pub since: String,
}

/// A held lock; only [`hold`] takes and releases one.
#[derive(Debug)]
struct StackLock {
    name: String,
}

/// The lock's parameter name.
pub fn parameter_name(stack: &str) -> String {
    format!("/moodle-ha/{stack}/lock")
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown-host".into())
}

fn me(command: &str) -> Holder {
    let host = host();
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    Holder {
        who: format!("{user}@{host}"),
        host,
        pid: std::process::id(),
        command: command.to_string(),
        since: DateTime::from(std::time::SystemTime::now())
            .fmt(Format::DateTime)
            .unwrap_or_default(),
    }
}

/// True when `holder` ran on this machine and its process is gone (killed, crashed).
fn dead_here(holder: &Holder) -> bool {
    holder.host == host() && !std::path::Path::new(&format!("/proc/{}", holder.pid)).exists()
}

/// Runs `body` holding the stack's lock for `command` (or fails naming who holds it, before
/// `body` starts), then releases the lock however `body` ended: its value or error is
/// returned, its panic resumed, after the release.
pub async fn hold<T>(
    aws: &Aws,
    command: &str,
    force: bool,
    body: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let lock = acquire(aws, command, force).await?;
    release_after(body, lock.release(aws)).await
}

/// Awaits `body`, then `release`, also when `body` panics (the panic is resumed after it).
async fn release_after<T>(body: impl Future<Output = T>, release: impl Future<Output = ()>) -> T {
    let ended = AssertUnwindSafe(body).catch_unwind().await;
    release.await;
    match ended {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Takes the stack's lock for `command`, or fails naming who holds it.
async fn acquire(aws: &Aws, command: &str, force: bool) -> anyhow::Result<StackLock> {
    let name = parameter_name(&aws.tags.stack);
    let holder = me(command);
    let value = serde_json::to_string(&holder)?;
    for attempt in 0..2 {
        let put = aws
            .ssm
            .put_parameter()
            .name(&name)
            .value(&value)
            .r#type(ParameterType::String)
            .description("moodle-ha: the run that may change this stack")
            .overwrite(false)
            .tags(
                Tag::builder()
                    .key(super::tags::STACK_TAG)
                    .value(&aws.tags.stack)
                    .build()
                    .context("tag")?,
            )
            .send()
            .await;
        match put {
            Ok(_) => return Ok(StackLock { name }),
            Err(e) if is_code(&e, "ParameterAlreadyExists") && attempt == 0 => {
                let current = aws
                    .ssm
                    .get_parameter()
                    .name(&name)
                    .send()
                    .await
                    .context("GetParameter (the stack lock)")?;
                let text = current
                    .parameter()
                    .and_then(|p| p.value())
                    .unwrap_or_default();
                // Our own value: the answer to our first PutParameter was lost and the SDK's
                // retry found the lock it had just taken. It is ours.
                if text == value {
                    return Ok(StackLock { name });
                }
                let other: Option<Holder> = serde_json::from_str(text).ok();
                let stale = other.as_ref().is_some_and(dead_here);
                if !(force || stale) {
                    match other {
                        Some(h) => bail!(
                            "stack `{}` is locked by {} (pid {}, running `{}`) since {}; nothing was changed. Wait for that run, or pass `--force-unlock` if it is dead",
                            aws.tags.stack,
                            h.who,
                            h.pid,
                            h.command,
                            h.since
                        ),
                        None => bail!(
                            "stack `{}` is locked (SSM parameter {name}); nothing was changed. Pass `--force-unlock` if no run holds it",
                            aws.tags.stack
                        ),
                    }
                }
                if let Some(h) = &other {
                    tracing::warn!(
                        "taking over the lock of {} (pid {}, `{}`, since {}): {}",
                        h.who,
                        h.pid,
                        h.command,
                        h.since,
                        if stale {
                            "its process is gone"
                        } else {
                            "--force-unlock"
                        }
                    );
                }
                match aws.ssm.delete_parameter().name(&name).send().await {
                    Ok(_) => {}
                    Err(e) if is_code(&e, "ParameterNotFound") => {}
                    Err(e) => return Err(e).context("DeleteParameter (the stack lock)"),
                }
            }
            Err(e) => return Err(e).context("PutParameter (the stack lock)"),
        }
    }
    bail!(
        "stack `{}` was locked again while taking over its lock",
        aws.tags.stack
    )
}

impl StackLock {
    /// Releases the lock (a failure is logged: the next run can take a dead run's lock over).
    async fn release(self, aws: &Aws) {
        if let Err(e) = aws.ssm.delete_parameter().name(&self.name).send().await {
            tracing::warn!("releasing the stack lock {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::release_after;
    use futures::FutureExt;
    use std::panic::AssertUnwindSafe;
    use std::sync::atomic::{AtomicBool, Ordering};

    async fn flag(released: &AtomicBool) {
        released.store(true, Ordering::SeqCst);
    }

    #[tokio::test]
    async fn the_release_follows_a_value_and_an_error() {
        let released = AtomicBool::new(false);
        let value = release_after(async { Ok::<_, String>(7) }, flag(&released)).await;
        assert_eq!(value, Ok(7));
        assert!(released.swap(false, Ordering::SeqCst));
        let error = release_after(async { Err::<u8, _>("no") }, flag(&released)).await;
        assert_eq!(error, Err("no"));
        assert!(released.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_panic_is_resumed_after_the_release() {
        let released = AtomicBool::new(false);
        let ended = AssertUnwindSafe(release_after(
            async {
                if released.load(Ordering::SeqCst) {
                    return 1;
                }
                panic!("a bug in the workflow")
            },
            flag(&released),
        ))
        .catch_unwind()
        .await;
        let message = ended
            .err()
            .and_then(|p| p.downcast_ref::<&str>().map(|s| s.to_string()));
        assert_eq!(message.as_deref(), Some("a bug in the workflow"));
        assert!(
            released.load(Ordering::SeqCst),
            "released before the panic went on"
        );
    }
}
