//! Waiting for AWS resources to settle: poll at once, then with growing intervals, up to an
//! explicit maximum; report state and elapsed time; stop on a failed state with its reason.

use crate::progress::Progress;
use std::future::Future;
use std::time::{Duration, Instant};

/// One look at a resource.
#[derive(Debug)]
pub enum Poll {
    /// Done waiting.
    Ready,
    /// Still going; the AWS state, e.g. `creating`.
    Pending(String),
    /// It will not get there; the AWS status reason.
    Failed(String),
}

/// Why a wait ended without the resource being ready.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The maximum passed.
    #[error("{what} still `{state}` after {}s (the maximum)", .waited.as_secs())]
    Timeout {
        /// The resource.
        what: String,
        /// Last state seen.
        state: String,
        /// How long it waited.
        waited: Duration,
    },
    /// AWS reported a failed state.
    #[error("{what} failed: {reason}")]
    Failed {
        /// The resource.
        what: String,
        /// AWS's status reason.
        reason: String,
    },
    /// Looking failed.
    #[error("checking {what}: {source:#}")]
    Check {
        /// The resource.
        what: String,
        /// The error.
        source: anyhow::Error,
    },
}

/// Polls `check` until it is ready, failed, or `max` has passed.
pub async fn until<F, Fut>(
    progress: &Progress,
    what: &str,
    max: Duration,
    mut check: F,
) -> Result<(), WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Poll>>,
{
    let start = Instant::now();
    let mut interval = Duration::from_millis(500);
    let mut waiter = None;
    loop {
        let poll = check().await.map_err(|source| WaitError::Check {
            what: what.to_string(),
            source,
        })?;
        match poll {
            Poll::Ready => {
                if let Some(w) = waiter {
                    progress.finish_wait(w, start.elapsed());
                }
                return Ok(());
            }
            Poll::Failed(reason) => {
                return Err(WaitError::Failed {
                    what: what.to_string(),
                    reason,
                });
            }
            Poll::Pending(state) => {
                let elapsed = start.elapsed();
                if elapsed >= max {
                    return Err(WaitError::Timeout {
                        what: what.to_string(),
                        state,
                        waited: elapsed,
                    });
                }
                let w = *waiter.get_or_insert_with(|| progress.start_wait(what));
                progress.update_wait(w, &state, elapsed);
                tokio::time::sleep(interval.min(max - elapsed)).await;
                interval = (interval * 2).min(Duration::from_secs(15));
            }
        }
    }
}
