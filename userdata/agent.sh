#!/bin/bash
# moodle-ha agent (cron instance only): runs the CLI's requests from $AGENT_PARAMETER, each id
# exactly once: claimed with mkdir in $DATAROOT/.moodle-ha/agent, output and result uploaded to
# the stack bucket (agent/output/<id>.log, agent/results/<id>.json). userdata/README.md has the
# protocol.
set -uo pipefail
umask 022
# shellcheck source=/dev/null
. /etc/moodle-ha/node.env
# shellcheck source=/dev/null
. /etc/moodle-ha/discovered.env
# shellcheck source=/dev/null
. /usr/local/lib/moodle-ha/node-lib.sh

log() { echo "moodle-ha-agent: $*" >&2; }
awscli() { aws --region "$REGION" --output text "$@"; }
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
AGENT_DIR=$DATAROOT/.moodle-ha/agent
CRON_WAIT=600

# --- actions: output to stdout, one line for the result with `say`, 0 on success ----------
say() { printf '%s\n' "$*" >"$CLAIM/message"; }

read_record() { # the release record's bucket, key, sha256, commit into REC_*
  local f
  f=$(awscli ssm get-parameter --name "$RELEASE_PARAMETER" --query Parameter.Value | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("\t".join(str(r.get(k, "")) for k in ("bucket", "key", "sha256", "commit")))') || return 1
  IFS=$'\t' read -r REC_BUCKET REC_KEY REC_SHA REC_COMMIT <<<"$f"
}

# unpacked COMMIT: RELEASE_DIR with its config.php; downloaded if the request gives the
# archive's SHA-256 (the preflight's plugin check runs before the record names the release) or
# the record names COMMIT.
unpacked() {
  RELEASE_DIR=$CODE_ROOT.releases/$1
  if [ ! -f "$RELEASE_DIR/.moodle-ha-release" ]; then
    read_record || { say "the release record could not be read"; return 1; }
    if [[ $REQ_SHA =~ ^[0-9a-f]{64}$ ]]; then
      REC_KEY=releases/$1.tar.gz REC_SHA=$REQ_SHA
    elif [ "$REC_COMMIT" != "$1" ]; then
      say "release $1 is not unpacked here, the request gives no SHA-256 and the release record names $REC_COMMIT"
      return 1
    fi
    echo "downloading release $1"
    release_unpack "$REC_BUCKET" "$REC_KEY" "$REC_SHA" "$1" || { say "$NODE_ERROR"; return 1; }
  fi
  release_config "$RELEASE_DIR" || { say "$NODE_ERROR"; return 1; }
}

# new_release COMMIT: the record must name COMMIT (the CLI writes it first), unless the
# request gives the archive's SHA-256; then unpacked.
new_release() {
  read_record || { say "the release record could not be read"; return 1; }
  if [ "$REC_COMMIT" != "$1" ] && [[ ! $REQ_SHA =~ ^[0-9a-f]{64}$ ]]; then
    say "the release record names $REC_COMMIT, not $1, and the request gives no SHA-256"
    return 1
  fi
  unpacked "$1"
}

action_maintenance_on() { moodle_cli admin/cli/maintenance.php --enable && say "maintenance mode on"; }
action_maintenance_off() { moodle_cli admin/cli/maintenance.php --disable && say "maintenance mode off"; }
action_cron_resume() { moodle_cli admin/cli/cron.php --enable && say "cron resumed"; }

# cron_enabled off (a new cron.php exits at once; running ones stop after their task), then
# Moodle's running tasks and this host's cron.php processes waited for, CRON_WAIT s in all.
action_cron_pause() {
  local t0=$SECONDS pids
  moodle_cli admin/cli/cron.php --disable-wait="$CRON_WAIT" || {
    say "tasks still running after ${CRON_WAIT}s: $(moodle_cli admin/cli/cron.php --list | awk 'NR > 2 { print $NF }' | paste -sd' ' -)"
    return 1
  }
  while pids=$(pgrep -f 'admin/cli/cron\.php' | paste -sd' ' -) && [ -n "$pids" ]; do
    ((SECONDS - t0 < CRON_WAIT)) || { say "cron.php still running after ${CRON_WAIT}s (PIDs $pids)"; return 1; }
    sleep 2
  done
  say "cron paused: no task and no cron.php running"
}

# The new tree's uninstall_plugins.php --show-missing, less Moodle's own plugins: a plugin the
# running code calls an add-on (--show-contrib) and the new tree lacks refuses the upgrade. A
# standard plugin a new branch drops is removed by that branch's core upgrade (5.0 drops
# mlbackend_php in lib/db/upgrade.php, not in its deleted-plugins list, so 5.1 lists it missing).
action_check_plugins() {
  local out contrib rc missing dropped
  new_release "$1" || return 1
  out=$(cd "$RELEASE_DIR" && runuser -u "$WEB_USER" -- "$PHP_BIN" admin/cli/uninstall_plugins.php --show-missing)
  rc=$?
  printf '%s\n' "$out"
  [ "$rc" = 0 ] || { say "uninstall_plugins.php --show-missing exited $rc in release $1"; return 1; }
  contrib=$(moodle_cli admin/cli/uninstall_plugins.php --show-contrib)
  rc=$?
  [ "$rc" = 0 ] || { say "uninstall_plugins.php --show-contrib exited $rc in the running release"; return 1; }
  missing=$(in_both "$contrib" "$out")
  dropped=$(printf '%s\n' "$out" | awk -F'\t' 'NF >= 2 { print $1 }' | grep -vxF -f <(tr ' ' '\n' <<<"$missing") | paste -sd' ' -)
  [ -z "$dropped" ] || echo "Moodle's own plugins release $1 drops (its core upgrade removes them): $dropped"
  [ -z "$missing" ] || { say "plugins the site has that release $1 lacks: $missing"; return 1; }
  say "release $1 has every plugin the site added"
}

# in_both LIST1 LIST2: the components (first tab-separated field) in both lists, space-separated.
in_both() {
  awk -F'\t' 'NR == FNR { if (NF >= 2) a[$1] = 1; next } NF >= 2 && ($1 in a) { print $1 }' \
    <(printf '%s\n' "$1") <(printf '%s\n' "$2") | paste -sd' ' -
}

settle() { # after a switch: caches purged, MUC on Redis, the ready marker
  moodle_cli admin/cli/purge_caches.php || { say "purge_caches.php failed"; return 1; }
  { caches_on_redis && write_ready_marker; } || { say "$NODE_ERROR"; return 1; }
  read_ready_marker
}

# Switch to the new release (the previous kept), upgrade.php once. config.php and admin/cli
# stay at the code root on every branch, so 5.1's public/ needs nothing here (no web server).
action_upgrade() {
  new_release "$1" || return 1
  release_switch "$RELEASE_DIR" || { say "$NODE_ERROR"; return 1; }
  echo "code root: release $1 (previous: $(readlink "$CODE_ROOT.releases/previous"))"
  moodle_cli admin/cli/upgrade.php --non-interactive || { local rc=$?; say "upgrade.php exited $rc"; return "$rc"; }
  settle && say "upgraded to release $1, version $READY_VERSION"
}

# A rollback's code: back to release COMMIT (downloaded if the record names it), no upgrade.php.
action_switch() {
  unpacked "$1" || return 1
  release_switch "$RELEASE_DIR" || { say "$NODE_ERROR"; return 1; }
  echo "code root: release $1"
  settle && say "switched to release $1, version $READY_VERSION"
}

# A new cron instance's agent answering: the code root it runs (an in-window replacement).
action_ping() { say "agent ready on $(hostname), code root release $(basename "$(readlink "$CODE_ROOT")")"; }

action_smoke() {
  moodle_cli admin/cli/check_database_schema.php || { say "check_database_schema.php exited $?"; return 1; }
  say "the database schema matches the code"
}

# --- requests ---------------------------------------------------------------------------------
upload() { # FILE KEY
  awscli s3api put-object --bucket "$BUCKET" --key "$2" --body "$1" >/dev/null 2>&1 || log "uploading s3://$BUCKET/$2 failed"
}

# result STATUS EXIT_CODE STARTED MESSAGE: result.json, then output and result uploaded.
result() {
  python3 -c 'import json, sys
i, a, c, s, e, st, m, en = sys.argv[1:]
print(json.dumps({"id": i, "action": a, "commit": c, "status": s, "exit_code": int(e), "started": st, "ended": en, "message": m}))' \
    "$ID" "$ACTION" "$COMMIT" "$1" "$2" "$3" "$(printf '%s' "$4" | tr -s '\r\n' '  ' | cut -c1-500)" "$(now)" \
    >"$CLAIM/result.json.new" && mv "$CLAIM/result.json.new" "$CLAIM/result.json"
  upload "$CLAIM/output.log" "agent/output/$ID.log"
  upload "$CLAIM/result.json" "agent/results/$ID.json"
}

run() { # the claimed request; its output uploaded every 10 s while it runs
  local started pid rc last=$SECONDS msg
  case "$ACTION" in
    maintenance-on | maintenance-off | cron-pause | cron-resume | smoke | ping) COMMIT= ;;
    check-plugins | upgrade | switch)
      [[ $COMMIT =~ ^[0-9a-f]{40}$ ]] || { result failed 2 "$(now)" "$ACTION needs a commit (40 hex digits)"; return; } ;;
    *) result failed 2 "$(now)" "unknown action '${ACTION:0:80}'"; return ;;
  esac
  started=$(now)
  echo "$started" >"$CLAIM/started"
  log "running $ID ($ACTION $COMMIT)"
  ("action_${ACTION//-/_}" "$COMMIT") >"$CLAIM/output.log" 2>&1 </dev/null &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    ((SECONDS - last < 10)) || { upload "$CLAIM/output.log" "agent/output/$ID.log"; last=$SECONDS; }
  done
  wait "$pid"
  rc=$?
  msg=$(cat "$CLAIM/message" 2>/dev/null) || msg="$ACTION exited $rc: $(tail -n 1 "$CLAIM/output.log")"
  result "$([ "$rc" = 0 ] && echo ok || echo failed)" "$rc" "$started" "$msg"
  log "$ID: $(cat "$CLAIM/result.json")"
}

handle() { # VALUE: one request; 1 when it must be tried again
  local f
  f=$(printf '%s' "$1" | python3 -c 'import json, sys
r = json.load(sys.stdin)
print("\t".join(str(r.get(k) or "") for k in ("id", "action", "commit", "sha256")))' 2>/dev/null) || { log "a request that is not JSON: ignored"; return 0; }
  IFS=$'\t' read -r ID ACTION COMMIT REQ_SHA <<<"$f"
  [[ $ID =~ ^[A-Za-z0-9._-]+$ && ! $ID =~ ^\.+$ ]] || { log "a request id not [A-Za-z0-9._-]+: ignored"; return 0; }
  read_record || return 1
  BUCKET=$REC_BUCKET CLAIM=$AGENT_DIR/$ID
  # The lock is held while a request runs, so a second agent never calls it interrupted.
  if mkdir "$CLAIM" 2>/dev/null; then
    exec 8>"$CLAIM/lock" && flock 8 && run
  elif [ -f "$CLAIM/result.json" ]; then
    log "$ID ran before: its result uploaded again"
    upload "$CLAIM/output.log" "agent/output/$ID.log"
    upload "$CLAIM/result.json" "agent/results/$ID.json"
  else
    exec 8>"$CLAIM/lock"
    if flock -n 8 && [ ! -f "$CLAIM/result.json" ]; then
      touch "$CLAIM/output.log"
      result interrupted -1 "$(cat "$CLAIM/started" 2>/dev/null || now)" "the agent stopped while $ACTION ran; not run again"
      log "$ID: interrupted"
    fi
  fi
  exec 8>&-
  return 0
}

# Claims only on the shared disk (systemd starts the agent again in 5 s).
mountpoint -q "$DATAROOT" || { log "$DATAROOT is not mounted"; exit 1; }
mkdir -p "$AGENT_DIR" && chmod 0750 "$AGENT_DIR"
log "watching $AGENT_PARAMETER"
seen=
while :; do
  # With the parameter's version: the same request written again is handled again (its result
  # uploaded again, never run again).
  rec=$(awscli ssm get-parameter --name "$AGENT_PARAMETER" --query 'Parameter.[Version, Value]' 2>/dev/null) || rec=
  if [ -n "$rec" ] && [ "$rec" != "$seen" ]; then
    handle "${rec#*$'\t'}" && seen=$rec
  fi
  sleep 5
done
