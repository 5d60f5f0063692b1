#!/bin/bash
# moodle-ha: the cron instance only. Creates Moodle's database user, installs the site when the
# database has no Moodle tables (exactly once: a lock on the shared disk serialises reboots and
# a second instance racing the first), upgrades it when the code is newer, puts the caches
# (MUC) on Redis, and then marks the site ready for the web nodes. Web nodes never run this.
# Once the ready marker names a release, upgrades are the agent's (agent.sh), never this
# script's: bootstrap.sh runs the marker's release, so nothing is pending here.
set -euo pipefail

# shellcheck source=/dev/null
. /etc/moodle-ha/node.env
# shellcheck source=/dev/null
. /etc/moodle-ha/discovered.env
# shellcheck source=/dev/null
. /usr/local/lib/moodle-ha/node-lib.sh

log() { echo "moodle-ha-install-site: $*" >&2; }
fail() {
  log "FAILED: $*"
  exit 1
}
awscli() { aws --region "$REGION" --output text "$@"; }
secret() { awscli secretsmanager get-secret-value --secret-id "$1" --query SecretString; }

state="$DATAROOT/.moodle-ha"
mkdir -p "$state"
if [ "$(stat -c %U "$DATAROOT")" != "$WEB_USER" ]; then
  chown -R "$WEB_USER:" "$DATAROOT"
  chmod -R u+rwX,g+rwX "$DATAROOT"
fi
chown "$WEB_USER:" "$state"

exec 9>"$state/install.lock"
flock -w 7200 9 || fail "another instance holds $state/install.lock"

# 1. Moodle's own database user, with only the privileges Moodle needs. RDS rotates the master
#    password, so the site never uses it; the user's password is the stack's db-user secret.
if [ "$DB_KIND" = cluster ]; then
  master_arn=$(awscli rds describe-db-clusters --db-cluster-identifier "$DB_ID" \
    --query 'DBClusters[0].MasterUserSecret.SecretArn')
else
  master_arn=$(awscli rds describe-db-instances --db-instance-identifier "$DB_ID" \
    --query 'DBInstances[0].MasterUserSecret.SecretArn')
fi
if [ -z "$master_arn" ] || [ "$master_arn" = None ]; then
  fail "the database has no managed master secret"
fi
db_setup() {
  {
    secret "$master_arn" | tr -d '\n'
    printf '\n'
    secret "$SECRET_DB_USER"
  } | "$PHP_BIN" /usr/local/lib/moodle-ha/db-setup.php "$DB_HOST" "$DB_NAME" "$DB_USER" "$DB_PREFIX" "$DB_GRANTS"
}
# The endpoint can exist before the database takes connections (an Aurora cluster's does):
# try for up to an hour.
tries=0
until setup=$(db_setup); do
  tries=$((tries + 1))
  [ "$tries" -ge 120 ] && fail "setting up the database user"
  [ $((tries % 10)) -eq 1 ] && log "waiting for the database to take connections"
  sleep 30
done
read -r tables dbversion <<<"$setup"

# 2. Install exactly once. A Moodle version means installed; no prefixed table means a new
#    database; tables without a version are an interrupted install, never dropped automatically.
if moodle_cli admin/cli/cfg.php --name=version >/dev/null 2>&1; then
  log "the site is installed"
elif [ -n "$dbversion" ]; then
  # Installed, but Moodle does not start yet: most often an interrupted upgrade, whose lock
  # (upgraderunning) expires by itself. Never an install; wait for it.
  tries=0
  until moodle_cli admin/cli/cfg.php --name=version >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -ge 60 ] && fail "the site (version $dbversion in the database) does not start: $(moodle_cli admin/cli/cfg.php --name=version 2>&1 | tr -s '\n' ' ')"
    [ $((tries % 10)) -eq 1 ] && log "the site (version $dbversion) does not start yet (an interrupted upgrade's lock?): waiting"
    sleep 30
  done
  log "the site is installed"
elif [ "$tables" = 0 ]; then
  log "installing Moodle (several minutes)"
  adminpass=$(secret "$SECRET_ADMIN")
  moodle_cli admin/cli/install_database.php --agree-license --lang=en --adminuser=admin \
    --adminpass="$adminpass" --adminemail="$ADMIN_EMAIL" \
    --fullname="$SITE_NAME" --shortname="$SITE_SHORT_NAME" >"$state/install.log" 2>&1 ||
    fail "install_database.php exited $?: $(tail -n 5 "$state/install.log" | tr -s '\n' ' ')"
  unset adminpass
  log "installed"
else
  fail "the database has $tables tables with prefix $DB_PREFIX but no Moodle version: an interrupted install; drop them or restore a snapshot, then reboot this instance"
fi

# 3. Upgrade when the code is newer than the database (here only; web nodes wait for it), for
#    a site whose ready marker names no release yet (installed before the agent existed).
pending=0
moodle_cli admin/cli/upgrade.php --is-pending >/dev/null 2>&1 || pending=$?
read_ready_marker
case "$pending" in
  0) ;;
  2)
    [ -z "$READY_COMMIT" ] || fail "the code is newer than the site (release $READY_COMMIT): upgrades are the agent's upgrade request"
    log "upgrading Moodle"
    moodle_cli admin/cli/upgrade.php --non-interactive >"$state/upgrade.log" 2>&1 ||
      fail "upgrade.php exited $?: $(tail -n 5 "$state/upgrade.log" | tr -s '\n' ' ')"
    ;;
  *) fail "admin/cli/upgrade.php --is-pending exited $pending" ;;
esac

# 4. The caches (MUC) on Redis: written once to dataroot/muc, shared by every node.
caches_on_redis || fail "$NODE_ERROR"

# 5. Ready: `<version> <commit> <sha256>`; web nodes of this release at most this version serve.
write_ready_marker || fail "$NODE_ERROR"
log "the site is ready at version $(cat "$READY_MARKER")"
