//! Recognising AWS error codes, for the few answers that mean "already done" (a create that
//! finds its resource from an earlier run, a delete that finds it gone).

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// True when `error` carries the AWS error code `expected`.
pub fn is_code<E: ProvideErrorMetadata>(error: &E, expected: &str) -> bool {
    error.code() == Some(expected)
}
