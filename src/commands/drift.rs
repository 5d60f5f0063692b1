//! `drift`: compare every managed attribute in AWS with the spec.

use super::{Ui, load, pipeline};
use crate::plan::drift::DriftReport;
use crate::report::ApiCallCounts;
use std::path::Path;

/// What differs between AWS and the spec.
#[derive(Debug)]
pub struct Drift {
    /// Drifted, missing and unmanaged resources.
    pub report: DriftReport,
    /// AWS requests made.
    pub calls: ApiCallCounts,
}

impl Drift {
    /// 2 when AWS differs from the spec, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.report.drift { 2 } else { 0 }
    }
}

/// Runs `drift`. `None` when the spec or its references in AWS have errors (shown).
pub async fn run(
    file: &Path,
    endpoint_url: Option<String>,
    ui: &dyn Ui,
) -> anyhow::Result<Option<Drift>> {
    let Some((loaded, aws)) = load::spec_and_aws(file, ui, endpoint_url, None).await? else {
        return Ok(None);
    };
    let Some((plan, _)) =
        pipeline::build_plan(&aws, file, &loaded, ui, pipeline::Purpose::Compare).await?
    else {
        return Ok(None);
    };
    Ok(Some(Drift {
        report: crate::plan::drift::report(&plan),
        calls: ApiCallCounts::from_calls(&aws.calls),
    }))
}
