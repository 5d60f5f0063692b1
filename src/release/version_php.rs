//! Moodle's `version.php`, read without PHP: the top-level assignments of `$version`,
//! `$release` and `$branch`, as every Moodle branch writes them (one per line, a number or a
//! quoted string, a comment after). Anything else in the file is ignored.

/// What a Moodle tree's `version.php` says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionPhp {
    /// `$version`, as written (e.g. `2024100706.00`): compared as a number by the nodes.
    pub version: String,
    /// `$release`, e.g. `4.5.6 (Build: 20250811)`.
    pub release: String,
    /// `$branch`, e.g. `405`.
    pub branch: String,
}

/// Reads `$version`, `$release` and `$branch` from a `version.php`; an error names what is
/// missing or malformed.
pub fn parse_version_php(text: &str) -> Result<VersionPhp, String> {
    let mut version = None;
    let mut release = None;
    let mut branch = None;
    for line in text.lines() {
        let Some((name, value)) = assignment(line) else {
            continue;
        };
        let slot = match name {
            "version" => &mut version,
            "release" => &mut release,
            "branch" => &mut branch,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    let version = version.ok_or("no `$version = …;` line")?;
    let release = release.ok_or("no `$release = '…';` line")?;
    let branch = branch.ok_or("no `$branch = '…';` line")?;
    let number = |s: &str| {
        let mut parts = s.splitn(2, '.');
        let whole = parts.next().unwrap_or_default();
        !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && parts
                .next()
                .is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit()))
    };
    if !number(&version) {
        return Err(format!("`$version` is `{version}`, not a number"));
    }
    if branch.is_empty() || !branch.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`$branch` is `{branch}`, not digits like `405`"));
    }
    if release.trim().is_empty() {
        return Err("`$release` is empty".into());
    }
    Ok(VersionPhp {
        version,
        release,
        branch,
    })
}

/// `$name = value;` at the start of a line: the name and the value (a quoted string
/// unquoted, or a bare token).
fn assignment(line: &str) -> Option<(&str, String)> {
    let rest = line.trim_start().strip_prefix('$')?;
    let name_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let (name, rest) = rest.split_at(name_len);
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let value = match rest.chars().next()? {
        q @ ('\'' | '"') => {
            let body = &rest[1..];
            let end = body.find(q)?;
            body[..end].to_string()
        }
        _ => {
            let end = rest.find(';')?;
            rest[..end].trim().to_string()
        }
    };
    Some((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_4_5_6_and_5_1_6_files_parse() {
        assert_eq!(
            parse_version_php(include_str!(
                "../../tests/fixtures/moodle/version-4.5.6.php"
            )),
            Ok(VersionPhp {
                version: "2024100706.00".into(),
                release: "4.5.6 (Build: 20250811)".into(),
                branch: "405".into(),
            })
        );
        assert_eq!(
            parse_version_php(include_str!(
                "../../tests/fixtures/moodle/version-5.1.6.php"
            )),
            Ok(VersionPhp {
                version: "2025100606.00".into(),
                release: "5.1.6 (Build: 20260810)".into(),
                branch: "501".into(),
            })
        );
    }

    #[test]
    fn double_quotes_and_tight_spacing_parse() {
        let text =
            "<?php\n$version=2025041400.01;\n$release=\"5.0 (Build: 1)\";\n$branch=\"500\";\n";
        let v = parse_version_php(text).expect("parses");
        assert_eq!(
            (v.version.as_str(), v.release.as_str(), v.branch.as_str()),
            ("2025041400.01", "5.0 (Build: 1)", "500")
        );
    }

    #[test]
    fn what_is_missing_or_malformed_is_named() {
        let base = "$version = 2024100706.00;\n$release = '4.5.6';\n$branch = '405';\n";
        assert!(parse_version_php(base).is_ok());
        for (drop, want) in [
            ("$version", "no `$version"),
            ("$release", "no `$release"),
            ("$branch", "no `$branch"),
        ] {
            let text: String = base
                .lines()
                .filter(|l| !l.starts_with(drop))
                .map(|l| format!("{l}\n"))
                .collect();
            let err = parse_version_php(&text).expect_err("missing");
            assert!(err.starts_with(want), "{err}");
        }
        let err = parse_version_php(&base.replace("2024100706.00", "MATURITY_STABLE"))
            .expect_err("not a number");
        assert!(err.contains("not a number"), "{err}");
        let err = parse_version_php(&base.replace("'405'", "'4.5'")).expect_err("not digits");
        assert!(err.contains("not digits"), "{err}");
        // A plugin's version.php is not Moodle's.
        let plugin = "$plugin->version = 2024100700;\n$plugin->component = 'local_x';\n";
        assert!(parse_version_php(plugin).is_err());
    }
}
