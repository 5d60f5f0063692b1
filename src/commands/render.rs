//! `render`: write the files a node gets, for inspection, with the stack's endpoints read
//! from AWS (no change made) or, offline, marked placeholders.

use super::{Ui, load};
use crate::aws::{Aws, Connect};
use crate::progress::Progress;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// The files written.
#[derive(Debug)]
pub struct Rendered {
    /// Each file's path and size in bytes, in the order written.
    pub written: Vec<(PathBuf, usize)>,
    /// Values marked `<known after apply: …>` in config.php.
    pub known_after_apply: Vec<&'static str>,
}

/// Runs `render`. `None` when the spec has errors (shown).
pub async fn run(
    file: &Path,
    out: &Path,
    offline: bool,
    endpoint_url: Option<String>,
    ui: &dyn Ui,
) -> anyhow::Result<Option<Rendered>> {
    let Some(loaded) = load::spec(file, ui)? else {
        return Ok(None);
    };
    let outputs = if offline {
        crate::render::Outputs::default()
    } else {
        let connect = Connect {
            endpoint_url,
            max_wait: None,
        };
        let aws = Aws::connect(&loaded.spec, &connect, Progress::new()).await;
        let observed = Box::pin(aws.observe())
            .await
            .context("reading the stack's resources (use `--offline` to render without AWS)")?;
        crate::render::Outputs::from_map(&observed.outputs())
    };
    let files = crate::render::all_files(&loaded.spec, &outputs)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut written = Vec::new();
    for (name, text) in &files {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push((path, text.len()));
    }
    Ok(Some(Rendered {
        written,
        known_after_apply: outputs.missing(),
    }))
}
