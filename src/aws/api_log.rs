//! An SDK interceptor that logs every AWS request (at debug level, shown by `-v` or
//! `RUST_LOG=moodle_ha=debug`) and counts requests per service and operation.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Requests sent, by `(service, operation)`, retries included; and operations started, so
/// that the retries (throttling, 5xx, dropped connections) can be told apart.
#[derive(Clone, Debug, Default)]
pub struct ApiCalls {
    attempts: Arc<Mutex<BTreeMap<(String, String), u64>>>,
    operations: Arc<AtomicU64>,
}

impl ApiCalls {
    /// A snapshot of the counts.
    pub fn counts(&self) -> BTreeMap<(String, String), u64> {
        self.attempts.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Total requests.
    pub fn total(&self) -> u64 {
        self.counts().values().sum()
    }

    /// Requests that were retries of an earlier attempt.
    pub fn retries(&self) -> u64 {
        self.total()
            .saturating_sub(self.operations.load(Ordering::Relaxed))
    }

    /// The next operation is moodle-ha's own retry of an earlier one (a create sent again by
    /// [`super::once`] after its answer was lost): its request counts as a retry.
    pub fn count_next_as_retry(&self) {
        let _ = self
            .operations
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
    }
}

impl Intercept for ApiCalls {
    fn name(&self) -> &'static str {
        "moodle-ha api log"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.operations.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_default();
        let uri = context.request().uri();
        tracing::debug!(target: "moodle_ha::api", "{service}.{operation} {uri}");
        if let Ok(mut counts) = self.attempts.lock() {
            *counts.entry((service, operation)).or_default() += 1;
        }
        Ok(())
    }
}
