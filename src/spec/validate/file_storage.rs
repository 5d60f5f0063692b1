//! Rules of `file_storage` (EFS): throughput, performance mode, encryption key and the
//! lifecycle transitions.

use super::Checker;
use crate::spec::{PerformanceMode, Spec, ThroughputMode};

re!(
    KMS_KEY,
    r"^([0-9a-f-]{36}|alias/[A-Za-z0-9/_-]+|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key/[0-9a-f-]{36}|alias/[A-Za-z0-9/_-]+))$"
);

const IA_TRANSITIONS: &[&str] = &[
    "NONE",
    "AFTER_1_DAY",
    "AFTER_7_DAYS",
    "AFTER_14_DAYS",
    "AFTER_30_DAYS",
    "AFTER_60_DAYS",
    "AFTER_90_DAYS",
    "AFTER_180_DAYS",
    "AFTER_270_DAYS",
    "AFTER_365_DAYS",
];

impl Checker<'_> {
    /// `file_storage`: provisioned throughput exactly when that mode is chosen, a performance
    /// mode that fits the throughput mode, a KMS key reference, known transitions.
    pub(super) fn file_storage(&mut self, spec: &Spec) {
        let fs = &spec.file_storage;
        match (fs.throughput_mode, fs.provisioned_throughput_mibps) {
            (ThroughputMode::Provisioned, None) => self.err(
                "file_storage.provisioned_throughput_mibps",
                "required with `throughput_mode: provisioned`",
            ),
            (ThroughputMode::Provisioned, Some(v)) if !(1.0..=3414.0).contains(&v) => self.err(
                "file_storage.provisioned_throughput_mibps",
                format!("must be 1–3414 MiB/s, got {v}"),
            ),
            (ThroughputMode::Provisioned, Some(_)) => {}
            (_, Some(_)) => self.err(
                "file_storage.provisioned_throughput_mibps",
                "only allowed with `throughput_mode: provisioned`",
            ),
            (_, None) => {}
        }
        if fs.performance_mode == PerformanceMode::MaxIo
            && fs.throughput_mode == ThroughputMode::Elastic
        {
            self.err(
                "file_storage.performance_mode",
                "`maxIO` cannot be combined with elastic throughput; use `generalPurpose`",
            );
        }
        if let Some(key) = &fs.kms_key_id {
            self.pattern(
                "file_storage.kms_key_id",
                key,
                &KMS_KEY,
                "a KMS key ID, alias or ARN",
            );
        }
        if !IA_TRANSITIONS.contains(&fs.transition_to_ia.as_str()) {
            self.err(
                "file_storage.transition_to_ia",
                format!(
                    "`{}` is not one of {}",
                    fs.transition_to_ia,
                    IA_TRANSITIONS.join(", ")
                ),
            );
        }
        if !["NONE", "AFTER_1_ACCESS"].contains(&fs.transition_to_primary_storage_class.as_str()) {
            self.err(
                "file_storage.transition_to_primary_storage_class",
                format!(
                    "`{}` is not `AFTER_1_ACCESS` or `NONE`",
                    fs.transition_to_primary_storage_class
                ),
            );
        }
    }
}
