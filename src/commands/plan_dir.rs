//! `plan DIR`: plan every `*.yaml` stack spec in a directory, a bounded number at once.

use super::{Ui, load, pipeline};
use crate::plan::Plan;
use crate::report::ApiCallCounts;
use anyhow::Context;
use futures::stream::{self, StreamExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One stack's plan, or why there is none (`Ok(None)`: its problems were shown).
pub type StackResult = anyhow::Result<Option<(Plan, ApiCallCounts)>>;

/// Every stack's plan, by file name.
#[derive(Debug)]
pub struct PlannedDir {
    /// Each spec and its result, sorted by path.
    pub stacks: Vec<(PathBuf, StackResult)>,
    /// Wall time.
    pub elapsed: Duration,
    /// Stacks planned at once.
    pub parallel: usize,
}

impl PlannedDir {
    /// Stacks whose plan failed or whose spec had errors.
    pub fn failed(&self) -> usize {
        self.stacks
            .iter()
            .filter(|(_, r)| !matches!(r, Ok(Some(_))))
            .count()
    }

    /// Stacks with changes.
    pub fn changed(&self) -> usize {
        self.stacks
            .iter()
            .filter(|(_, r)| matches!(r, Ok(Some((plan, _))) if !plan.is_empty()))
            .count()
    }

    /// 1 if any failed, else 2 with `detailed` if any has changes, else 0.
    pub fn exit_code(&self, detailed: bool) -> u8 {
        if self.failed() > 0 {
            1
        } else if detailed && self.changed() > 0 {
            2
        } else {
            0
        }
    }
}

/// Plans every stack spec in `dir`, at most `parallel` at once.
pub async fn run(
    dir: &Path,
    parallel: usize,
    endpoint_url: Option<String>,
    ui: &dyn Ui,
) -> anyhow::Result<PlannedDir> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let started = Instant::now();
    let mut stacks: Vec<(PathBuf, StackResult)> = stream::iter(files)
        .map(|file| {
            let endpoint_url = endpoint_url.clone();
            async move {
                let result = plan_one(&file, endpoint_url, ui).await;
                (file, result)
            }
        })
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    stacks.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(PlannedDir {
        stacks,
        elapsed: started.elapsed(),
        parallel: parallel.max(1),
    })
}

async fn plan_one(file: &Path, endpoint_url: Option<String>, ui: &dyn Ui) -> StackResult {
    let Some((loaded, aws)) = load::spec_and_aws(file, ui, endpoint_url, None).await? else {
        return Ok(None);
    };
    let planned = pipeline::build_plan(&aws, file, &loaded, ui, pipeline::Purpose::Change).await?;
    let calls = ApiCallCounts::from_calls(&aws.calls);
    Ok(planned.map(|(plan, _)| (plan, calls)))
}
