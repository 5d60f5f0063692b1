#!/bin/bash
# shellcheck disable=SC2034 # sets variables its callers read (NODE_ERROR, RELEASE_DIR, READY_*)
# moodle-ha: functions bootstrap.sh, install-site.sh and agent.sh share (sourced after
# node.env). One that fails sets NODE_ERROR to one line and returns 1; the caller decides.

NODE_ERROR=
# `<version> <commit> <sha256>` of the site and the release it runs (an older marker: the
# version only), written by the cron instance; web nodes wait for it.
READY_MARKER=$DATAROOT/.moodle-ha/ready

retry() { # COMMAND...: 30 tries, 10 s apart
  local tries=0
  until "$@"; do
    tries=$((tries + 1))
    [ "$tries" -ge 30 ] && return 1
    sleep 10
  done
}

# Moodle's CLI scripts, as the web server's user, from the code root (on every branch).
moodle_cli() { (cd "$CODE_ROOT" && runuser -u "$WEB_USER" -- "$PHP_BIN" "$@"); }

# release_unpack BUCKET KEY SHA256 COMMIT: downloaded, checked and unpacked once into
# RELEASE_DIR=$CODE_ROOT.releases/COMMIT (renamed into place when complete; its
# .moodle-ha-release holds `<commit> <sha256>`). The code root is not switched.
release_unpack() {
  local bucket=$1 key=$2 sha=$3 commit=$4 dir archive got
  [[ $commit =~ ^[0-9a-f]{40}$ ]] || { NODE_ERROR="release refused: no commit ($commit)"; return 1; }
  [[ $sha =~ ^[0-9a-f]{64}$ ]] || { NODE_ERROR="release $commit refused: no SHA-256"; return 1; }
  [[ $key == "releases/$commit.tar.gz" ]] || { NODE_ERROR="release $commit refused: unexpected key $key"; return 1; }
  [[ $bucket =~ ^[a-z0-9][a-z0-9.-]+$ ]] || { NODE_ERROR="release $commit refused: no bucket"; return 1; }
  dir=$CODE_ROOT.releases/$commit
  RELEASE_DIR=$dir
  [ -f "$dir/.moodle-ha-release" ] && return 0
  mkdir -p "$CODE_ROOT.releases"
  archive=$dir.tar.gz
  retry aws --region "$REGION" s3api get-object --bucket "$bucket" --key "$key" "$archive" >/dev/null ||
    { NODE_ERROR="release $commit: downloading s3://$bucket/$key"; return 1; }
  got=$(sha256sum "$archive" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then
    rm -f "$archive"
    NODE_ERROR="release $commit refused: checksum mismatch (the archive has SHA-256 $got, the record $sha)"
    return 1
  fi
  rm -rf "$dir.partial"
  mkdir -p "$dir.partial"
  tar -xzf "$archive" -C "$dir.partial" --no-same-owner || { NODE_ERROR="release $commit: unpacking"; return 1; }
  rm -f "$archive"
  printf '%s %s\n' "$commit" "$sha" >"$dir.partial/.moodle-ha-release"
  mv "$dir.partial" "$dir"
}

# release_switch DIR: the code root's symlink to DIR, atomically (rename(2)); the release it
# named before kept as $CODE_ROOT.releases/previous.
release_switch() {
  if [ -e "$CODE_ROOT" ] && [ ! -L "$CODE_ROOT" ]; then
    NODE_ERROR="$CODE_ROOT is a directory, not the release symlink"
    return 1
  fi
  if [ -L "$CODE_ROOT" ] && [ "$(readlink "$CODE_ROOT")" != "$1" ]; then
    ln -sfn "$(readlink "$CODE_ROOT")" "$CODE_ROOT.releases/previous"
  fi
  ln -sfn "$1" "$CODE_ROOT.switch"
  mv -T "$CODE_ROOT.switch" "$CODE_ROOT"
}

# release_config DIR: config.php in DIR, from the template with DB_HOST and REDIS_HOST.
release_config() {
  local config
  config=$(cat /etc/moodle-ha/config.php.in)
  config=${config//"<known after apply: database.endpoint>"/"$DB_HOST"}
  config=${config//"<known after apply: cache.primary_endpoint>"/"$REDIS_HOST"}
  case "$config" in *"<known after apply:"*) NODE_ERROR="config.php has a value nobody filled in"; return 1 ;; esac
  printf '%s\n' "$config" >"$1/config.php.new"
  chmod 0644 "$1/config.php.new"
  mv "$1/config.php.new" "$1/config.php"
}

release_version() { # DIR: its $version (version.php, or public/version.php from 5.1)
  local f=$1/version.php
  [ -f "$f" ] || f=$1/public/version.php
  # shellcheck disable=SC2016 # `$version` is PHP, not shell
  sed -n 's/^\$version *= *\([0-9.]*\);.*/\1/p' "$f" 2>/dev/null | head -n 1
}

read_ready_marker() { # READY_VERSION, READY_COMMIT, READY_SHA ('' when absent)
  READY_VERSION='' READY_COMMIT='' READY_SHA=''
  [ -f "$READY_MARKER" ] || return 0
  read -r READY_VERSION READY_COMMIT READY_SHA <"$READY_MARKER" || true
  [[ $READY_COMMIT =~ ^[0-9a-f]{40}$ ]] || READY_COMMIT=''
  [[ $READY_SHA =~ ^[0-9a-f]{64}$ ]] || READY_SHA=''
}

# The caches (MUC) on Redis, in dataroot/muc for every node (AUTH from Secrets Manager).
caches_on_redis() {
  aws --region "$REGION" --output text secretsmanager get-secret-value --secret-id "$SECRET_REDIS_AUTH" \
    --query SecretString | moodle_cli /usr/local/lib/moodle-ha/muc-redis.php \
    "$CODE_ROOT" "$REDIS_HOST:6379" "${STACK}_muc_" "$CA_BUNDLE" >/dev/null ||
    { NODE_ERROR="putting the caches on Redis failed"; return 1; }
}

# The ready marker: the database's version, the code root's release and its SHA-256.
write_ready_marker() {
  local version commit sha
  version=$(moodle_cli admin/cli/cfg.php --name=version 2>/dev/null)
  [[ $version =~ ^[0-9]+(\.[0-9]+)?$ ]] || { NODE_ERROR="cfg.php printed no version: ${version:0:200}"; return 1; }
  read -r commit sha <"$(readlink "$CODE_ROOT")/.moodle-ha-release" || true
  [[ $commit =~ ^[0-9a-f]{40}$ ]] || { NODE_ERROR="the code root is no unpacked release"; return 1; }
  printf '%s %s%s\n' "$version" "$commit" "${sha:+ $sha}" >"$READY_MARKER.new"
  mv "$READY_MARKER.new" "$READY_MARKER"
}
