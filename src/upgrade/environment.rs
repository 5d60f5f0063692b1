//! What each Moodle branch needs, as the new code's own `admin/environment.xml` says
//! (`public/admin/environment.xml` from 5.1 on): the oldest release a site may upgrade from
//! (the `requires` attribute), and the PHP and database versions. Read from the tree being
//! deployed, never hard-coded, so a new branch brings its own rules.

use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Where a code tree keeps its environment file, newest layout first.
pub const ENVIRONMENT_XML: &[&str] = &["public/admin/environment.xml", "admin/environment.xml"];

/// The needs of one branch (one `<MOODLE version="X.Y" requires="…">` element).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BranchNeeds {
    /// The branch, e.g. `5.1`.
    pub branch: String,
    /// The oldest release a site may upgrade from to this branch, e.g. `4.2.3`.
    pub requires: String,
    /// The oldest PHP version it runs on, e.g. `8.2.0`, when the element says.
    pub php: Option<String>,
    /// The oldest version of each database vendor (`mysql`, `auroramysql`, `mariadb`, …).
    pub databases: BTreeMap<String, String>,
}

/// The parsed compatibility matrix: every branch the file describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    branches: Vec<BranchNeeds>,
}

/// The file is not Moodle's compatibility matrix.
#[derive(Debug, thiserror::Error)]
pub enum EnvironmentError {
    /// Not well-formed XML.
    #[error("environment.xml is not XML: {0}")]
    Xml(#[from] roxmltree::Error),
    /// Not a `<COMPATIBILITY_MATRIX>`, or a `<MOODLE>` element without its version.
    #[error("environment.xml is not Moodle's compatibility matrix: {0}")]
    Shape(String),
}

impl Environment {
    /// Parses the text of an `environment.xml`.
    pub fn parse(xml: &str) -> Result<Self, EnvironmentError> {
        let doc = roxmltree::Document::parse(xml)?;
        let root = doc.root_element();
        if root.tag_name().name() != "COMPATIBILITY_MATRIX" {
            return Err(EnvironmentError::Shape(format!(
                "its root is <{}>",
                root.tag_name().name()
            )));
        }
        let mut branches = Vec::new();
        for moodle in root.children().filter(|n| n.has_tag_name("MOODLE")) {
            let branch = moodle
                .attribute("version")
                .ok_or_else(|| EnvironmentError::Shape("a <MOODLE> element has no version".into()))?
                .to_string();
            let child = |tag: &str| moodle.children().find(|n| n.has_tag_name(tag));
            let databases = child("DATABASE")
                .map(|db| {
                    db.children()
                        .filter(|n| n.has_tag_name("VENDOR"))
                        .filter_map(|v| Some((v.attribute("name")?, v.attribute("version")?)))
                        .map(|(name, version)| (name.to_string(), version.to_string()))
                        .collect()
                })
                .unwrap_or_default();
            branches.push(BranchNeeds {
                // Moodle reads a missing `requires` as 1.0 (lib/environmentlib.php).
                requires: moodle.attribute("requires").unwrap_or("1.0").to_string(),
                php: child("PHP").and_then(|p| p.attribute("version").map(str::to_string)),
                databases,
                branch,
            });
        }
        if branches.is_empty() {
            return Err(EnvironmentError::Shape("it has no <MOODLE> element".into()));
        }
        branches.sort_by(|a, b| compare_versions(&a.branch, &b.branch));
        Ok(Self { branches })
    }

    /// The needs of `branch` (e.g. `5.1`), if the file describes it.
    pub fn branch(&self, branch: &str) -> Option<&BranchNeeds> {
        self.branches
            .iter()
            .find(|b| compare_versions(&b.branch, branch) == Ordering::Equal)
    }

    /// Whether a site at `release` may upgrade straight to `branch`, as Moodle checks it
    /// (`environment_check_moodle`: the site's release, normalized, at least `requires`).
    /// `None` when the file does not describe the branch.
    pub fn allows(&self, release: &str, branch: &str) -> Option<bool> {
        let needs = self.branch(branch)?;
        Some(compare_versions(&normalize_release(release), &needs.requires) != Ordering::Less)
    }

    /// The branches to upgrade through, in order, from a site at `release` to `branch`
    /// (which ends the list), each step one Moodle allows when the site runs the latest
    /// release of the step before; the step to `branch` alone when it is allowed directly.
    /// `None` when no chain of the branches the file describes gets there.
    pub fn chain(&self, release: &str, branch: &str) -> Option<Vec<String>> {
        let target = self.branch(branch)?;
        let mut at = normalize_release(release);
        let mut chain = Vec::new();
        while compare_versions(&at, &target.requires) == Ordering::Less {
            // The newest branch before the target that the site can reach from where it is.
            let next = self
                .branches
                .iter()
                .filter(|b| compare_versions(&b.branch, &target.branch) == Ordering::Less)
                .filter(|b| compare_versions(&b.branch, &branch_of(&at)) == Ordering::Greater)
                .rfind(|b| compare_versions(&at, &b.requires) != Ordering::Less)?;
            chain.push(next.branch.clone());
            // Its latest release: above any `requires` of the same branch (`4.2.3`).
            at = format!("{}.{}", next.branch, u32::MAX);
        }
        chain.push(target.branch.clone());
        Some(chain)
    }
}

/// The version part of a `$release` string, as Moodle's `normalize_version` takes it:
/// `4.5.6 (Build: 20250811)` → `4.5.6`, `4.5+ (Build: …)` → `4.5`.
pub fn normalize_release(release: &str) -> String {
    let digits: String = release
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits.trim_end_matches('.').to_string()
}

/// The branch (`X.Y`) of a dotted release, e.g. `4.5.6` → `4.5`.
fn branch_of(release: &str) -> String {
    release.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// A `$branch` code as written in `version.php` as its dotted branch: `405` → `4.5`,
/// `501` → `5.1`, `311` → `3.11`, `39` → `3.9`. `None` for anything else.
pub fn dotted_branch(code: &str) -> Option<String> {
    if !code.chars().all(|c| c.is_ascii_digit()) || !(2..=3).contains(&code.len()) {
        return None;
    }
    let (major, minor) = code.split_at(1);
    let minor: u32 = minor.parse().ok()?;
    Some(format!("{major}.{minor}"))
}

/// Compares dotted numeric versions as PHP's `version_compare` does for them (`8.2` < `8.2.0`
/// is not a distinction made here: a missing part counts as 0).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parts = |v: &str| -> Vec<u64> {
        v.split('.')
            .map(|p| p.trim().parse::<u64>().unwrap_or(0))
            .collect()
    };
    let (a, b) = (parts(a), parts(b));
    for i in 0..a.len().max(b.len()) {
        match a
            .get(i)
            .copied()
            .unwrap_or(0)
            .cmp(&b.get(i).copied().unwrap_or(0))
        {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    const V51: &str = include_str!("../../tests/fixtures/moodle/environment-5.1.6.xml");
    const V45: &str = include_str!("../../tests/fixtures/moodle/environment-4.5.6.xml");

    #[test]
    fn the_5_1_tree_says_what_5_1_needs() {
        let env = Environment::parse(V51).expect("parses");
        let needs = env.branch("5.1").expect("5.1 described");
        assert_eq!(needs.requires, "4.2.3");
        assert_eq!(needs.php.as_deref(), Some("8.2.0"));
        assert_eq!(needs.databases["mysql"], "8.4");
        assert_eq!(needs.databases["auroramysql"], "8.0");
        assert_eq!(needs.databases["mariadb"], "10.11.0");
        let v45 = Environment::parse(V45).expect("parses");
        assert_eq!(v45.branch("4.5").expect("4.5").requires, "4.1.2");
    }

    #[test]
    fn a_site_upgrades_directly_only_from_the_release_the_branch_requires() {
        let env = Environment::parse(V51).expect("parses");
        assert_eq!(env.allows("4.5.6 (Build: 20250811)", "5.1"), Some(true));
        assert_eq!(env.allows("4.2.3 (Build: 20231009)", "5.1"), Some(true));
        assert_eq!(env.allows("4.2.2 (Build: 20230814)", "5.1"), Some(false));
        assert_eq!(env.allows("4.1.9", "5.1"), Some(false));
        assert_eq!(env.allows("4.5.6", "9.9"), None, "a branch the file lacks");
    }

    #[test]
    fn the_chain_goes_through_the_newest_branch_each_step_allows() {
        let env = Environment::parse(V51).expect("parses");
        assert_eq!(env.chain("4.5.6", "5.1"), Some(vec!["5.1".to_string()]));
        // 4.2 requires 3.11.8, so 3.9 goes to 4.1 (requires 3.9), then 4.5 (requires 4.1.2).
        assert_eq!(
            env.chain("3.9.2 (Build: 20200914)", "5.1"),
            Some(vec!["4.1".into(), "4.5".into(), "5.1".into()])
        );
        // 4.2.0 is below 5.1's 4.2.3: the latest 4.2 is not a newer branch, so 4.5 first.
        assert_eq!(
            env.chain("4.2.0", "5.1"),
            Some(vec!["4.5".into(), "5.1".into()])
        );
        assert_eq!(env.chain("1.0", "5.1").map(|c| c.len() > 3), Some(true));
    }

    #[test]
    fn release_and_branch_codes_read_as_moodle_reads_them() {
        assert_eq!(normalize_release("4.5.6 (Build: 20250811)"), "4.5.6");
        assert_eq!(normalize_release("4.5+ (Build: 20241007)"), "4.5");
        assert_eq!(dotted_branch("405").as_deref(), Some("4.5"));
        assert_eq!(dotted_branch("501").as_deref(), Some("5.1"));
        assert_eq!(dotted_branch("311").as_deref(), Some("3.11"));
        assert_eq!(dotted_branch("39").as_deref(), Some("3.9"));
        assert_eq!(dotted_branch("5.1"), None);
        assert_eq!(compare_versions("8.2", "8.2.0"), Ordering::Equal);
        assert_eq!(compare_versions("3.11.8", "3.9"), Ordering::Greater);
    }

    #[test]
    fn a_file_that_is_not_the_matrix_is_refused() {
        assert!(Environment::parse("<html/>").is_err());
        assert!(Environment::parse("<COMPATIBILITY_MATRIX/>").is_err());
        assert!(Environment::parse("not xml").is_err());
    }
}
