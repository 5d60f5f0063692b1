#!/bin/bash
# moodle-ha: first boot of a web node or of the cron instance, run once by cloud-init after
# the packages are in. Reads /etc/moodle-ha/node.env (rendered from the spec, no secrets).
#
#  1. the RDS CA bundle into the system trust store (the database is reached with verify-full)
#  2. the AWS CLI and the EFS mount helper where the distribution lacks them; phpredis on AL2023
#  3. the stack's resources looked up by their deterministic names (DB, Redis, EFS)
#  4. moodledata mounted from EFS through fstab, with TLS and IAM
#  5. the release the stack names (checked, unpacked, switched to; the cron instance of an
#     installed site: the release the ready marker names); config.php and secrets
#  6. cron instance: moodle-ha-install-site (DB user, install, caches on Redis, the ready
#     marker), then the agent (agent.sh: the CLI's requests, the upgrade among them)
#     web node: wait until the ready marker names its release, then start PHP-FPM and the web
#     server, and let the Auto Scaling group put it in service (its launch hook holds it)
#
# Secrets are never printed: no `set -x`, and values only go to files readable by root and
# the web server's group.
set -euo pipefail
umask 022

# shellcheck source=/dev/null
. /etc/moodle-ha/node.env
# shellcheck source=/dev/null
. /usr/local/lib/moodle-ha/node-lib.sh

log() { echo "moodle-ha-bootstrap: $*" >&2; }
fail() {
  log "FAILED: $*"
  exit 1
}

# Runs "$@" until it prints a non-empty value other than "None"; prints it.
wait_for_value() {
  local what=$1 value tries=0
  shift
  while :; do
    value=$("$@" 2>/dev/null || true)
    if [ -n "$value" ] && [ "$value" != "None" ]; then
      printf '%s\n' "$value"
      return 0
    fi
    tries=$((tries + 1))
    if [ "$tries" -ge 360 ]; then
      fail "$what not available after an hour"
    fi
    [ $((tries % 6)) -eq 1 ] && log "waiting for $what"
    sleep 10
  done
}

awscli() { aws --region "$REGION" --output text "$@"; }

trust_rds_ca() {
  local bundle=/run/moodle-ha-rds-ca.pem
  # An s3:// URL (the stack bucket) keeps the boot inside the stack; else AWS's trust store.
  case "$RDS_CA_URL" in
    s3://*) retry awscli s3 cp --quiet "$RDS_CA_URL" "$bundle" || fail "downloading the RDS CA bundle from $RDS_CA_URL" ;;
    *) retry curl -fsSL -o "$bundle" "$RDS_CA_URL" || fail "downloading the RDS CA bundle from $RDS_CA_URL" ;;
  esac
  case "$OS_FAMILY" in
    debian)
      mkdir -p /usr/local/share/ca-certificates/rds
      awk 'BEGIN { n = 0 } /BEGIN CERTIFICATE/ { n++ } { print > ("/usr/local/share/ca-certificates/rds/rds-" n ".crt") }' "$bundle"
      update-ca-certificates >/dev/null
      ;;
    rhel)
      cp "$bundle" /etc/pki/ca-trust/source/anchors/rds-global-bundle.pem
      update-ca-trust
      ;;
  esac
}

install_missing_tools() {
  case "$OS_FAMILY" in
    debian)
      # Ubuntu's AWS CLI is a snap; Debian's is the awscli package (in the user data's list).
      if ! command -v aws >/dev/null; then
        command -v snap >/dev/null || fail "no AWS CLI (the awscli package did not install)"
        retry snap install aws-cli --classic || fail "installing the AWS CLI"
      fi
      if ! command -v mount.efs >/dev/null; then
        # efs-utils is in neither Ubuntu's nor Debian's archive: build its Debian package from
        # the pinned tag of the spec's `moodle.efs_utils_git_url` (GitHub unless mirrored).
        rm -rf /tmp/efs-utils
        retry git clone --quiet --depth 1 --branch "$EFS_UTILS_REF" "$EFS_UTILS_GIT_URL" /tmp/efs-utils
        (cd /tmp/efs-utils && ./build-deb.sh >/dev/null)
        apt-get install -y /tmp/efs-utils/build/amazon-efs-utils*deb >/dev/null
      fi
      ;;
    rhel)
      if ! php -m | grep -qx redis; then
        # phpredis is not packaged for Amazon Linux 2023: built with pecl, from PECL's channel
        # or from the source archive the spec's `moodle.phpredis_source` names.
        local src=redis
        case "$PHPREDIS_SOURCE" in
          pecl) ;;
          s3://*)
            src=/tmp/phpredis.tgz
            retry awscli s3 cp "$PHPREDIS_SOURCE" "$src" >/dev/null || fail "downloading $PHPREDIS_SOURCE"
            ;;
          *)
            src=/tmp/phpredis.tgz
            retry curl -fsSL -o "$src" "$PHPREDIS_SOURCE" || fail "downloading $PHPREDIS_SOURCE"
            ;;
        esac
        printf '\n' | retry pecl install -f "$src" >/dev/null || fail "building phpredis from $PHPREDIS_SOURCE"
        echo 'extension=redis.so' >/etc/php.d/50-redis.ini
      fi
      ;;
  esac
}

discover() {
  if [ "$DB_KIND" = cluster ]; then
    DB_HOST=$(wait_for_value "the database cluster's endpoint" awscli rds describe-db-clusters \
      --db-cluster-identifier "$DB_ID" --query 'DBClusters[0].Endpoint')
  else
    DB_HOST=$(wait_for_value "the database's endpoint" awscli rds describe-db-instances \
      --db-instance-identifier "$DB_ID" --query 'DBInstances[0].Endpoint.Address')
  fi
  REDIS_HOST=$(wait_for_value "the Redis primary endpoint" awscli elasticache describe-replication-groups \
    --replication-group-id "$REDIS_GROUP" --query 'ReplicationGroups[0].NodeGroups[0].PrimaryEndpoint.Address')
  EFS_ID=$(wait_for_value "the file system" awscli efs describe-file-systems \
    --creation-token "$EFS_TOKEN" --query 'FileSystems[0].FileSystemId')
  for name in DB_HOST REDIS_HOST EFS_ID; do
    [[ ${!name} =~ ^[A-Za-z0-9.-]+$ ]] || fail "$name looks wrong: ${!name}"
  done
  cat >/etc/moodle-ha/discovered.env <<EOF
DB_HOST='$DB_HOST'
REDIS_HOST='$REDIS_HOST'
EFS_ID='$EFS_ID'
EOF
}

mount_moodledata() {
  mkdir -p "$DATAROOT"
  if ! grep -q "[[:space:]]${DATAROOT}[[:space:]]" /etc/fstab; then
    echo "$EFS_ID:/ $DATAROOT efs _netdev,noresvport,tls,iam 0 0" >>/etc/fstab
  fi
  mountpoint -q "$DATAROOT" || retry mount "$DATAROOT" || fail "mounting $EFS_ID at $DATAROOT"
}

# The release the stack names (its record, an SSM parameter, read at every boot): the
# archive downloaded from the stack's bucket, checked against the record's SHA-256 and this
# node's branch, unpacked once per commit beside the code root, and switched to with an
# atomic symlink. The previous release stays for a rollback. A bad release is refused: the
# node stops here and never serves.
#
# The cron instance never upgrades on its own once the site is installed: when the ready
# marker names another release than the record, it runs the marker's (the site's) release,
# and the upgrade to the record's is the agent's `upgrade` request (agent.sh).
fetch_release() {
  local record fields bucket key sha commit branch release
  record=$(wait_for_value "the release record $RELEASE_PARAMETER" awscli ssm get-parameter \
    --name "$RELEASE_PARAMETER" --query Parameter.Value)
  fields=$(printf '%s' "$record" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("\t".join(str(r.get(k, "")) for k in ("bucket", "key", "sha256", "commit", "branch", "release")))
') || fail "the release record $RELEASE_PARAMETER is not JSON"
  IFS=$'\t' read -r bucket key sha commit branch release <<<"$fields"
  # shellcheck disable=SC2034 # read by web-node.sh (the boot report)
  RELEASE_BUCKET=$bucket
  [[ $commit =~ ^[0-9a-f]{40}$ ]] || fail "release refused: the record names no commit ($commit)"
  read_ready_marker
  if [ "$ROLE" = cron ] && [ -n "$READY_COMMIT" ] && [ "$READY_COMMIT" != "$commit" ]; then
    [ -n "$READY_SHA" ] || fail "the site runs release $READY_COMMIT (ready marker), which names no SHA-256"
    log "the site runs release $READY_COMMIT (ready marker), the record names $commit: running the site's; the upgrade is the agent's"
    commit=$READY_COMMIT sha=$READY_SHA key=releases/$READY_COMMIT.tar.gz release="the site's release"
  elif [ "$ROLE" = web ] && [ "$branch" != "$RELEASE_BRANCH" ]; then
    # (The cron instance's user data names no branch: it runs what the site runs, whose
    # branch the CLI checked against the spec before writing the record; a major upgrade
    # changes the branch under it.)
    fail "release $commit refused: it is Moodle $release (branch $branch), this node runs Moodle $MOODLE_VERSION (branch $RELEASE_BRANCH)"
  fi
  release_unpack "$bucket" "$key" "$sha" "$commit" || fail "$NODE_ERROR"
  release_switch "$RELEASE_DIR" || fail "$NODE_ERROR"
  log "running release $commit (Moodle $release)"
}

secret() { awscli secretsmanager get-secret-value --secret-id "$1" --query SecretString; }

write_config() {
  local dbpass redis_auth
  dbpass=$(wait_for_value "the database user's secret" secret "$SECRET_DB_USER")
  redis_auth=$(wait_for_value "the Redis AUTH secret" secret "$SECRET_REDIS_AUTH")
  for value in "$dbpass" "$redis_auth"; do
    [[ $value =~ ^[A-Za-z0-9]+$ ]] || fail "a generated secret has unexpected characters"
  done
  (
    umask 027
    printf "<?php\nreturn ['dbpass' => '%s', 'redis_auth' => '%s'];\n" "$dbpass" "$redis_auth" >"$SECRETS_FILE.new"
    chgrp "$WEB_USER" "$SECRETS_FILE.new"
    mv "$SECRETS_FILE.new" "$SECRETS_FILE"
  )
  release_config "$(readlink "$CODE_ROOT")" || fail "$NODE_ERROR"
  mkdir -p "$LOCALCACHEDIR"
  chown "$WEB_USER:" "$LOCALCACHEDIR"
}

# A web node's own steps: enable_site, wait_until_installed, launch_hook.
if [ "$ROLE" = web ]; then
  # shellcheck source=/dev/null
  . /usr/local/lib/moodle-ha/web-node.sh
fi

# Nothing serves or runs Moodle until this script says so.
systemctl stop "$WEB_SERVICE" 2>/dev/null || true
if [ "$ROLE" = cron ]; then
  systemctl stop "$CRON_SERVICE" 2>/dev/null || true
fi
trust_rds_ca
install_missing_tools
discover
mount_moodledata
fetch_release
write_config
case "$ROLE" in
  cron)
    # Not behind the load balancer: no web server here, only the CLI.
    systemctl disable --now "$WEB_SERVICE" "$FPM_SERVICE" 2>/dev/null || true
    # Every boot checks again (install once, upgrade, caches), under the lock on moodledata.
    systemctl daemon-reload
    systemctl enable moodle-ha-install-site.service
    systemctl start moodle-ha-install-site.service
    systemctl enable --now "$CRON_SERVICE"
    # The agent runs the CLI's requests (maintenance, cron pause, upgrade), each once.
    systemctl enable --now moodle-ha-agent.service
    ;;
  web)
    enable_site
    wait_until_installed
    systemctl enable "$FPM_SERVICE" "$WEB_SERVICE"
    systemctl restart "$FPM_SERVICE"
    systemctl restart "$WEB_SERVICE"
    launch_hook continue
    ;;
esac
log "done"
