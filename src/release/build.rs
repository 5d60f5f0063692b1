//! Building a release with the operator's own `git` (a subprocess: their credentials, ssh
//! agent and credential helpers, private repositories, a local path or a `file://` URL all
//! work): fetch `moodle.git_ref` from `moodle.git_url` into a local cache, resolve it to a
//! commit, check the tree is Moodle, read its `version.php`, and pack it once,
//! deterministically (`git archive` of the commit, gzip without a timestamp), into
//! `<cache>/<commit>.tar.gz` with its SHA-256. A commit already packed is not packed again.

use super::{Release, VersionPhp, archive_key, parse_version_php};
use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A release built (or found in the cache): its record and the archive on local disk.
#[derive(Clone, Debug, PartialEq)]
pub struct Built {
    /// The record the nodes will read.
    pub release: Release,
    /// The archive, `<cache>/<commit>.tar.gz`.
    pub archive: PathBuf,
}

/// A release could not be built: the spec field it concerns and why.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BuildError {
    /// `moodle.git_url` or `moodle.git_ref`.
    pub field: &'static str,
    /// What went wrong (git's own words where git failed).
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> BuildError {
    BuildError {
        field,
        message: message.into(),
    }
}

/// The local release cache: `MOODLE_HA_RELEASE_CACHE`, else `$XDG_CACHE_HOME/moodle-ha/releases`,
/// else `~/.cache/moodle-ha/releases`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MOODLE_HA_RELEASE_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("moodle-ha").join("releases")
}

/// The archive of `commit` in `cache`.
pub fn archive_path(cache: &Path, commit: &str) -> PathBuf {
    cache.join(format!("{commit}.tar.gz"))
}

/// Fetches `git_ref` from `url`, and packs its commit unless `cache` already holds it.
pub fn build(url: &str, git_ref: &str, cache: &Path) -> Result<Built, BuildError> {
    std::fs::create_dir_all(cache).map_err(|e| {
        err(
            "moodle.git_url",
            format!("cannot create the release cache {}: {e}", cache.display()),
        )
    })?;
    let repo = cache.join("git");
    // One build at a time per cache (`plan DIR` runs stacks in parallel; git's own locks
    // would make a second fetch fail instead of wait).
    let lock = CacheLock::take(&cache.join(".lock")).map_err(|e| {
        err(
            "moodle.git_url",
            format!("cannot lock the release cache: {e}"),
        )
    })?;
    if !repo.join("HEAD").exists() {
        git(
            &repo,
            &["init", "--quiet", "--bare", "."],
            "moodle.git_url",
            true,
        )?;
    }
    let commit = resolve(&repo, url, git_ref)?;
    let built = pack(&repo, cache, &commit, git_ref);
    drop(lock);
    built
}

/// The commit `git_ref` names at `url`: a full commit already in the cache is not fetched
/// again; anything else is fetched (shallow) into a ref of our own.
fn resolve(repo: &Path, url: &str, git_ref: &str) -> Result<String, BuildError> {
    let is_commit = git_ref.len() == 40 && git_ref.bytes().all(|b| b.is_ascii_hexdigit());
    if is_commit && let Ok(c) = rev_parse(repo, &format!("{git_ref}^{{commit}}")) {
        return Ok(c);
    }
    let local = "refs/moodle-ha/fetched";
    git(
        repo,
        &[
            "fetch",
            "--quiet",
            "--depth",
            "1",
            "--no-tags",
            "--no-write-fetch-head",
            url,
            &format!("+{git_ref}:{local}"),
        ],
        "moodle.git_ref",
        false,
    )
    .map_err(|e| {
        err(
            "moodle.git_ref",
            format!("fetching `{git_ref}` from `{url}`: {}", e.message),
        )
    })?;
    rev_parse(repo, &format!("{local}^{{commit}}")).map_err(|e| {
        err(
            "moodle.git_ref",
            format!("`{git_ref}` is not a commit: {}", e.message),
        )
    })
}

fn rev_parse(repo: &Path, what: &str) -> Result<String, BuildError> {
    let out = git(
        repo,
        &["rev-parse", "--verify", "--quiet", what],
        "moodle.git_ref",
        false,
    )?;
    let commit = String::from_utf8_lossy(&out).trim().to_string();
    if commit.len() == 40 {
        Ok(commit)
    } else {
        Err(err(
            "moodle.git_ref",
            format!("`{what}` resolved to `{commit}`"),
        ))
    }
}

/// The tree of `commit` is Moodle: its `version.php` (at the root, or in `public/` from 5.1
/// on) read, and `lib/setup.php` present.
pub fn inspect(repo: &Path, commit: &str, git_ref: &str) -> Result<VersionPhp, BuildError> {
    let not_moodle = |why: &str| {
        err(
            "moodle.git_ref",
            format!("`{git_ref}` (commit {commit}) is not a Moodle tree: {why}"),
        )
    };
    let show = |path: &str| {
        git(
            repo,
            &["show", &format!("{commit}:{path}")],
            "moodle.git_ref",
            false,
        )
    };
    let text = show("public/version.php")
        .or_else(|_| show("version.php"))
        .map_err(|_| not_moodle("no `version.php` (nor `public/version.php`)"))?;
    show("lib/setup.php").map_err(|_| not_moodle("no `lib/setup.php`"))?;
    parse_version_php(&String::from_utf8_lossy(&text))
        .map_err(|e| not_moodle(&format!("its version.php: {e}")))
}

/// The `admin/environment.xml` of `commit` (under `public/` from 5.1 on), from the cache's
/// repository (where [`build`] fetched it): the new branch's own upgrade rules. `None` when
/// the tree has none.
pub fn environment_xml(cache: &Path, commit: &str) -> Option<String> {
    let repo = cache.join("git");
    ["public/admin/environment.xml", "admin/environment.xml"]
        .iter()
        .find_map(|path| {
            git(
                &repo,
                &["show", &format!("{commit}:{path}")],
                "moodle.git_ref",
                false,
            )
            .ok()
        })
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// Packs `commit` into the cache, unless it is there already (its record beside it).
fn pack(repo: &Path, cache: &Path, commit: &str, git_ref: &str) -> Result<Built, BuildError> {
    let archive = archive_path(cache, commit);
    let record = cache.join(format!("{commit}.json"));
    if let (Ok(text), true) = (std::fs::read_to_string(&record), archive.exists())
        && let Ok(release) = Release::from_record(&text)
        && release.commit == commit
        && sha256_file(&archive).ok() == Some(release.sha256.clone())
    {
        return Ok(Built { release, archive });
    }
    let tree = inspect(repo, commit, git_ref)?;
    let io = |e: std::io::Error| err("moodle.git_ref", format!("packing {commit}: {e}"));
    let partial = cache.join(format!("{commit}.tar.gz.{}", std::process::id()));
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["archive", "--format=tar", commit])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io)?;
    let mut tar = child
        .stdout
        .take()
        .ok_or_else(|| err("moodle.git_ref", "git archive: no output"))?;
    let file = File::create(&partial).map_err(io)?;
    let mut hasher = HashingWriter {
        inner: file,
        hash: Sha256::new(),
    };
    {
        // No file name and mtime 0 in the gzip header: the same commit packs to the same bytes.
        let mut gz = GzBuilder::new()
            .mtime(0)
            .write(&mut hasher, Compression::default());
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = tar.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            gz.write_all(&buf[..n]).map_err(io)?;
        }
        gz.finish().map_err(io)?;
    }
    let status = child.wait_with_output().map_err(io)?;
    if !status.status.success() {
        let _ = std::fs::remove_file(&partial);
        return Err(err(
            "moodle.git_ref",
            format!(
                "git archive {commit}: {}",
                String::from_utf8_lossy(&status.stderr).trim()
            ),
        ));
    }
    hasher.inner.sync_all().map_err(io)?;
    let sha256 = hex(&hasher.hash.finalize());
    std::fs::rename(&partial, &archive).map_err(io)?;
    let release = Release {
        commit: commit.to_string(),
        key: archive_key(commit),
        sha256,
        version: tree.version,
        release: tree.release,
        branch: tree.branch,
    };
    std::fs::write(&record, release.to_record()).map_err(io)?;
    Ok(Built { release, archive })
}

/// The release cache's lock: a file made with `create_new`, holding the PID, removed on drop.
/// A lock whose process is gone (a killed run) is taken over.
struct CacheLock(PathBuf);

impl CacheLock {
    fn take(path: &Path) -> std::io::Result<Self> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1800);
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut f) => {
                    write!(f, "{}", std::process::id())?;
                    return Ok(CacheLock(path.to_path_buf()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(path).unwrap_or_default();
                    let alive = match holder.trim().parse::<u32>() {
                        Ok(pid) => Path::new(&format!("/proc/{pid}")).exists(),
                        // No PID yet: being written now, or left by a run killed right
                        // after making it (stale after a few seconds).
                        Err(_) => std::fs::metadata(path)
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| t.elapsed().ok())
                            .is_none_or(|age| age < std::time::Duration::from_secs(5)),
                    };
                    if !alive {
                        let _ = std::fs::remove_file(path);
                        continue;
                    }
                    if std::time::Instant::now() > deadline {
                        return Err(std::io::Error::other(format!(
                            "{} is held by process {}",
                            path.display(),
                            holder.trim()
                        )));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

struct HashingWriter {
    inner: File,
    hash: Sha256,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The SHA-256 of a file, in hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex(&hash.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `git -C repo ARGS`: its output, or its error output as the message. Prompts are off
/// (a plan must not hang on a password prompt; ssh agents and credential helpers still work).
fn git(
    repo: &Path,
    args: &[&str],
    field: &'static str,
    create: bool,
) -> Result<Vec<u8>, BuildError> {
    if create {
        std::fs::create_dir_all(repo)
            .map_err(|e| err(field, format!("cannot create {}: {e}", repo.display())))?;
    }
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| err(field, format!("cannot run `git` (is it installed?): {e}")))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(err(
            field,
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A git repository with a small Moodle-shaped tree per tag: `version.php` (at the root,
    /// or in `public/` for 5.1) and `lib/setup.php`.
    fn repo(dir: &Path) -> PathBuf {
        let src = dir.join("site");
        let run = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(&src)
                .args(["-c", "user.name=t", "-c", "user.email=t@invalid"])
                .args(args)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            assert!(ok, "git {args:?}");
        };
        std::fs::create_dir_all(src.join("lib")).expect("mkdir");
        run(&["init", "-q"]);
        std::fs::write(src.join("lib/setup.php"), "<?php\n").expect("write");
        std::fs::write(
            src.join("version.php"),
            include_str!("../../tests/fixtures/moodle/version-4.5.6.php"),
        )
        .expect("write");
        run(&["add", "-A"]);
        run(&["commit", "-qm", "4.5.6"]);
        run(&["tag", "v4.5.6"]);
        std::fs::remove_file(src.join("version.php")).expect("rm");
        std::fs::create_dir_all(src.join("public")).expect("mkdir");
        std::fs::write(
            src.join("public/version.php"),
            include_str!("../../tests/fixtures/moodle/version-5.1.6.php"),
        )
        .expect("write");
        run(&["add", "-A"]);
        run(&["commit", "-qm", "5.1.6"]);
        run(&["tag", "v5.1.6"]);
        std::fs::write(src.join("README"), "not moodle\n").expect("write");
        run(&["rm", "-rq", "lib", "public"]);
        run(&["add", "-A"]);
        run(&["commit", "-qm", "nothing"]);
        run(&["tag", "not-moodle"]);
        src
    }

    #[test]
    fn a_tag_is_packed_once_deterministically_and_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = repo(dir.path());
        let url = format!("file://{}", src.display());
        let cache = dir.path().join("cache");
        let a = build(&url, "v4.5.6", &cache).expect("builds");
        assert_eq!(a.release.branch, "405");
        assert_eq!(a.release.version, "2024100706.00");
        assert_eq!(
            a.release.key,
            format!("releases/{}.tar.gz", a.release.commit)
        );
        assert_eq!(sha256_file(&a.archive).expect("hash"), a.release.sha256);
        let modified = std::fs::metadata(&a.archive)
            .and_then(|m| m.modified())
            .expect("mtime");
        // Built again: found in the cache, not packed again.
        let again = build(&url, "v4.5.6", &cache).expect("builds");
        assert_eq!(again, a);
        assert_eq!(
            std::fs::metadata(&a.archive)
                .and_then(|m| m.modified())
                .expect("mtime"),
            modified
        );
        // Packed again from nothing (another cache, a plain path): the same bytes.
        let other = build(
            &src.display().to_string(),
            "v4.5.6",
            &dir.path().join("cache2"),
        )
        .expect("builds");
        assert_eq!(other.release, a.release);
        // 5.1 keeps version.php in public/; a full commit ID works too.
        let b = build(&url, "v5.1.6", &cache).expect("builds");
        assert_eq!(
            (b.release.branch.as_str(), b.release.release.as_str()),
            ("501", "5.1.6 (Build: 20260810)")
        );
        let by_commit = build(&url, &b.release.commit, &cache).expect("builds");
        assert_eq!(by_commit.release, b.release);
    }

    #[test]
    fn a_lock_left_by_a_dead_run_is_taken_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".lock");
        // A PID no process has (above the kernel's maximum), then an old empty file.
        std::fs::write(&path, "4194305").expect("write");
        drop(CacheLock::take(&path).expect("taken over"));
        assert!(!path.exists(), "removed on drop");
        std::fs::write(&path, "").expect("write");
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(old))
            .expect("age it");
        let held = CacheLock::take(&path).expect("taken over");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            std::process::id().to_string()
        );
        drop(held);
    }

    #[test]
    fn a_tree_that_is_not_moodle_and_a_missing_ref_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = repo(dir.path());
        let url = format!("file://{}", src.display());
        let cache = dir.path().join("cache");
        let e = build(&url, "not-moodle", &cache).expect_err("not moodle");
        assert_eq!(e.field, "moodle.git_ref");
        assert!(
            e.message.contains("is not a Moodle tree: no `version.php`"),
            "{}",
            e.message
        );
        let e = build(&url, "v9.9.9", &cache).expect_err("no such ref");
        assert_eq!(e.field, "moodle.git_ref");
        assert!(
            e.message.starts_with("fetching `v9.9.9` from"),
            "{}",
            e.message
        );
    }
}
