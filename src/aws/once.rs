//! Creates that AWS does not make idempotent (no client token: `CreateVpc`, `CreateSubnet`,
//! `CreateInternetGateway`, `AllocateAddress`, `CreateRoute`), sent so that a lost answer
//! cannot make a second resource.
//!
//! The SDK retries a request whose answer it did not get (a reset connection, a timeout, a
//! 5xx). For such a create that is wrong: AWS may have done it, and doing it again makes a
//! duplicate (or fails, e.g. a subnet's CIDR now conflicts with itself). So [`create`] sends
//! the call with the SDK's retries off for that one call, and retries it itself: after an
//! answer that does not say whether the create was done, it first looks for the resource (by
//! its `moodle-ha:resource` tag, which the create call sets), adopts it when found, and sends
//! again only when it is not there. Throttling (AWS refused the call) is sent again directly.
//!
//! A resend continues the SDK's bookkeeping: it carries the first attempt's
//! `amz-sdk-invocation-id`, the next `amz-sdk-request: attempt=N`, and counts as a retry in
//! [`super::api_log::ApiCalls`], so it reads like any other retry in logs and in the report.

use super::api_log::ApiCalls;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Attempts in all, as the SDK's standard retries (`RetryConfig::with_max_attempts(6)`).
pub const MAX_ATTEMPTS: u32 = 6;

/// Error codes of a refused request (nothing was done), as the SDK's throttling classifier.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Error codes and HTTP statuses of an answer that does not say whether the call was done.
const TRANSIENT: &[&str] = &["RequestTimeout", "RequestTimeoutException"];
const TRANSIENT_STATUS: &[u16] = &[500, 502, 503, 504];

/// What an error says about the call that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// AWS refused it (throttling): not done, send again.
    Refused,
    /// No answer, or a server error: it may or may not have been done.
    Unknown,
    /// A definite answer (success is not an error; this is any other error).
    Final,
}

/// Classifies an SDK error the way the SDK's standard retry classifiers do, except that a
/// lost answer is told apart from a refusal.
pub fn answer<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> Answer {
    match error {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Answer::Unknown,
        SdkError::DispatchFailure(d) if d.is_user() => Answer::Final,
        SdkError::DispatchFailure(_) => Answer::Unknown,
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or_default();
            if THROTTLING.contains(&code) {
                Answer::Refused
            } else if TRANSIENT.contains(&code)
                || TRANSIENT_STATUS.contains(&s.raw().status().as_u16())
            {
                Answer::Unknown
            } else {
                Answer::Final
            }
        }
        _ => Answer::Final,
    }
}

/// One attempt of a create sent by [`create`]: give it to the call with
/// `.customize().interceptor(attempt)`. It turns the SDK's retries off for that call and
/// numbers the attempt as a retry of the first one.
#[derive(Clone, Debug)]
pub struct Attempt {
    number: u32,
    /// The SDK's invocation ID of the first attempt, kept for the following ones.
    invocation: Arc<Mutex<Option<String>>>,
}

const INVOCATION_ID: &str = "amz-sdk-invocation-id";
const REQUEST_INFO: &str = "amz-sdk-request";

impl Intercept for Attempt {
    fn name(&self) -> &'static str {
        "moodle-ha create once"
    }

    fn modify_before_retry_loop(
        &self,
        _context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // One attempt per call: the retry strategy reads this before any retry.
        cfg.interceptor_state().store_put(RetryConfig::disabled());
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let headers = context.request_mut().headers_mut();
        let mut invocation = self
            .invocation
            .lock()
            .map_err(|_| BoxError::from("create-once state poisoned"))?;
        match invocation.as_ref() {
            None => *invocation = headers.get(INVOCATION_ID).map(str::to_string),
            Some(id) => {
                headers.try_insert(INVOCATION_ID, id.clone())?;
            }
        }
        headers.try_insert(
            REQUEST_INFO,
            format!("attempt={}; max={MAX_ATTEMPTS}", self.number),
        )?;
        Ok(())
    }
}

/// The SDK's standard backoff before attempt `next` (2, 3, …): a random share of
/// 1 s × 2^(next−2), at most 20 s.
fn backoff(next: u32) -> Duration {
    use std::hash::BuildHasher;
    let random =
        std::collections::hash_map::RandomState::new().hash_one(next) as f64 / u64::MAX as f64;
    let ceiling = 2f64.powi(next.saturating_sub(2).min(5) as i32).min(20.0);
    Duration::from_secs_f64(random * ceiling)
}

/// Sends a create that AWS does not make idempotent, at most once per answer; `calls` counts
/// a resend as a retry.
///
/// `send` makes the call with the given [`Attempt`] as an interceptor; `find` looks for what
/// the call would have made (`Some` to adopt it). The outer error is a failed `find`; the
/// inner result is the create's own final answer (or what `find` found), for the caller to
/// add context to or to handle an error code.
pub async fn create<T, E, S, SF, F, FF>(
    calls: &ApiCalls,
    mut send: S,
    mut find: F,
) -> anyhow::Result<Result<T, SdkError<E, HttpResponse>>>
where
    E: ProvideErrorMetadata,
    S: FnMut(Attempt) -> SF,
    SF: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    F: FnMut() -> FF,
    FF: Future<Output = anyhow::Result<Option<T>>>,
{
    let invocation = Arc::new(Mutex::new(None));
    let mut number = 1;
    loop {
        if number > 1 {
            calls.count_next_as_retry();
        }
        let attempt = Attempt {
            number,
            invocation: invocation.clone(),
        };
        let error = match send(attempt).await {
            Ok(out) => return Ok(Ok(out)),
            Err(e) => e,
        };
        let kind = answer(&error);
        if kind == Answer::Final || number >= MAX_ATTEMPTS {
            return Ok(Err(error));
        }
        number += 1;
        tokio::time::sleep(backoff(number)).await;
        if kind == Answer::Unknown
            && let Some(found) = find().await?
        {
            tracing::debug!(
                target: "moodle_ha::api",
                "the answer to a create was lost and the resource exists: adopted"
            );
            return Ok(Ok(found));
        }
    }
}

#[cfg(test)]
// The tests hold the SDK's own error type in `Result`s, as the SDK's `send` does.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use aws_sdk_ec2::operation::create_vpc::CreateVpcError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;
    use std::sync::atomic::{AtomicU32, Ordering};

    type Error = SdkError<CreateVpcError, HttpResponse>;

    fn service(status: u16, code: &str) -> Error {
        let status = status.try_into().expect("an HTTP status");
        SdkError::service_error(
            CreateVpcError::generic(ErrorMetadata::builder().code(code).build()),
            HttpResponse::new(status, SdkBody::empty()),
        )
    }

    fn lost() -> Error {
        SdkError::dispatch_failure(ConnectorError::io("connection reset by peer".into()))
    }

    #[test]
    fn a_lost_answer_is_told_apart_from_a_refusal_and_a_final_error() {
        assert_eq!(answer(&lost()), Answer::Unknown);
        assert_eq!(answer(&service(503, "Unavailable")), Answer::Unknown);
        assert_eq!(answer(&service(500, "InternalError")), Answer::Unknown);
        assert_eq!(
            answer(&service(400, "RequestLimitExceeded")),
            Answer::Refused
        );
        assert_eq!(answer(&service(400, "Throttling")), Answer::Refused);
        assert_eq!(
            answer(&service(400, "InvalidSubnet.Conflict")),
            Answer::Final
        );
        assert_eq!(
            answer(&SdkError::<CreateVpcError, HttpResponse>::timeout_error(
                "read timed out"
            )),
            Answer::Unknown
        );
    }

    /// Runs `create` with answers taken in turn from `answers` and `find` answering `found`;
    /// returns the result, the sends and the lookups.
    async fn run(
        answers: Vec<Result<&'static str, Error>>,
        found: Option<&'static str>,
    ) -> (Result<&'static str, String>, u32, u32) {
        let calls = ApiCalls::default();
        let answers = Mutex::new(answers.into_iter());
        let (sends, finds) = (AtomicU32::new(0), AtomicU32::new(0));
        let result = create(
            &calls,
            |attempt| {
                assert_eq!(attempt.number, sends.fetch_add(1, Ordering::SeqCst) + 1);
                let next = answers.lock().ok().and_then(|mut a| a.next());
                async move { next.unwrap_or_else(|| Ok("made")) }
            },
            || {
                finds.fetch_add(1, Ordering::SeqCst);
                async move { Ok(found) }
            },
        )
        .await
        .expect("find does not fail");
        (
            result.map_err(|e| answer(&e)).map_err(|a| format!("{a:?}")),
            sends.into_inner(),
            finds.into_inner(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_answer_whose_resource_exists_is_adopted_without_sending_again() {
        assert_eq!(
            run(vec![Err(lost())], Some("found")).await,
            (Ok("found"), 1, 1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_answer_whose_resource_is_missing_is_sent_again() {
        assert_eq!(
            run(vec![Err(lost()), Err(service(503, "Unavailable"))], None).await,
            (Ok("made"), 3, 2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_sent_again_without_a_lookup_and_a_final_error_is_returned() {
        assert_eq!(
            run(vec![Err(service(400, "RequestLimitExceeded"))], Some("x")).await,
            (Ok("made"), 2, 0)
        );
        assert_eq!(
            run(vec![Err(service(400, "InvalidSubnet.Conflict"))], Some("x")).await,
            (Err("Final".into()), 1, 0)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn it_gives_up_after_the_sdks_number_of_attempts() {
        let all_lost = (0..10).map(|_| Err(lost())).collect();
        assert_eq!(
            run(all_lost, None).await,
            (Err("Unknown".into()), MAX_ATTEMPTS, MAX_ATTEMPTS - 1)
        );
    }

    #[test]
    fn backoff_grows_like_the_sdks_and_stays_under_20_s() {
        for next in 2..=MAX_ATTEMPTS + 3 {
            let b = backoff(next);
            let ceiling = 2f64.powi(next as i32 - 2).min(20.0);
            assert!(b.as_secs_f64() <= ceiling, "{next}: {b:?}");
        }
    }
}
