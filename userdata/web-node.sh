#!/bin/bash
# moodle-ha: a web node's boot steps, sourced by moodle-ha-bootstrap (web nodes only; the
# cron instance's user data does not carry them): the site enabled in the web server, the
# wait for the ready marker of the node's release (held by the launch hook, its boot done
# reported), the launch hook completed. Uses bootstrap's log, awscli and RELEASE_BUCKET.

# The instance metadata service: one setting, as in spot-watcher.sh.
IMDS=${MOODLE_HA_IMDS:-http://169.254.169.254}

# The instance's ID from the metadata service (IMDSv2: a session token first).
instance_id() {
  local token
  token=$(curl -fsS -m 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' \
    "$IMDS/latest/api/token") || return 1
  curl -fsS -m 5 -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/meta-data/instance-id"
}

# A web node is held out of service by the group's launch hook until it serves: a heartbeat
# keeps the hold while the site is installed; CONTINUE puts it in service.
launch_hook() {
  local id
  id=$(instance_id) || return 0
  case "$1" in
    heartbeat)
      awscli autoscaling record-lifecycle-action-heartbeat --auto-scaling-group-name "$ASG_NAME" \
        --lifecycle-hook-name "$READY_HOOK" --instance-id "$id" >/dev/null 2>&1 || true
      ;;
    continue)
      awscli autoscaling complete-lifecycle-action --auto-scaling-group-name "$ASG_NAME" \
        --lifecycle-hook-name "$READY_HOOK" --instance-id "$id" \
        --lifecycle-action-result CONTINUE >/dev/null 2>&1 ||
        log "no launch hook to complete (the node is already in service)"
      ;;
  esac
}

enable_site() {
  case "$WEB_SERVICE" in
    nginx) rm -f /etc/nginx/sites-enabled/default ;;
    apache2)
      a2dissite -q 000-default || true
      a2enmod -q headers proxy_fcgi
      a2ensite -q moodle
      ;;
  esac
  if [ "$OS_FAMILY" = rhel ] && [ "$WEB_SERVICE" = nginx ]; then
    # The stock nginx.conf has a catch-all server: the site's default server takes over.
    sed -i 's/ default_server//' /etc/nginx/nginx.conf
  fi
}

# The boot is done; the node waits for the site to be ready for release $1. It says so in
# the stack bucket (nodes/<instance-id>): an upgrade's warm-capacity step waits for this, so
# that no node still boots inside the maintenance window. Best effort: a node that cannot
# write it still serves once the site is ready.
report_waiting() {
  local id tries=0
  id=$(instance_id) || return 0
  until printf '%s\n' "$1" | awscli s3 cp --quiet - "s3://$RELEASE_BUCKET/nodes/$id"; do
    tries=$((tries + 1))
    [ "$tries" -ge 6 ] && { log "could not report the boot done to s3://$RELEASE_BUCKET/nodes/$id"; return 0; }
    sleep 10
  done
}

wait_until_installed() {
  # The cron instance installs or upgrades the site; a web node never does. Until the ready
  # marker names this node's release (when it names one) at a version at least this code's,
  # the node stays out of service and fails its health check: a node launched with a new
  # release waits for the cron instance's upgrade even when the version did not change.
  local mine commit tries=0
  mine=$(release_version "$DOCUMENT_ROOT")
  commit=$(basename "$(readlink "$CODE_ROOT")")
  report_waiting "$commit"
  while :; do
    read_ready_marker
    if [ -n "$mine" ] && awk -v a="$READY_VERSION" -v b="$mine" 'BEGIN { exit !(a ~ /^[0-9]+(\.[0-9]+)?$/ && a + 0 >= b + 0) }' &&
      { [ -z "$READY_COMMIT" ] || [ "$READY_COMMIT" = "$commit" ]; }; then
      return 0
    fi
    if [ $((tries % 20)) -eq 0 ]; then
      log "waiting for the cron instance to install or upgrade the site (site ${READY_VERSION:-not installed}${READY_COMMIT:+ at release $READY_COMMIT}, code $mine at release $commit)"
      launch_hook heartbeat
    fi
    tries=$((tries + 1))
    sleep 15
  done
}
