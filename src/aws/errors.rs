//! Recognising AWS error codes, for the few answers that mean "already done" (a create that
//! finds its resource from an earlier run, a delete that finds it gone): [`is_code`] and, for
//! a whole answer, [`tolerate`].

use anyhow::Context;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// True when `error` carries the AWS error code `expected`.
pub fn is_code<E: ProvideErrorMetadata>(error: &E, expected: &str) -> bool {
    error.code() == Some(expected)
}

/// The answer to `call`, with the listed AWS error codes counted as done: a delete that finds
/// its resource gone, a rule or association that already exists (a retried or resumed run).
/// Any other error is returned naming the call.
pub fn tolerate<T, E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    answer: Result<T, E>,
    codes: &[&str],
    call: &'static str,
) -> anyhow::Result<()> {
    match answer {
        Ok(_) => Ok(()),
        Err(e) if e.code().is_some_and(|c| codes.contains(&c)) => Ok(()),
        Err(e) => Err(e).context(call),
    }
}
