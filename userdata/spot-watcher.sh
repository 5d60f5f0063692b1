#!/bin/bash
# moodle-ha Spot interruption watcher (installed on every web node as a systemd service).
#
# Polls the instance metadata service (IMDSv2: every request carries a session token) for a
# Spot interruption notice (`spot/instance-action`, two minutes before the instance is taken)
# or a rebalance recommendation (`events/recommendations/rebalance`). On either, it takes the
# node out of its Auto Scaling group's target groups at once, so the load balancer stops
# sending new requests and in-flight ones finish within the deregistration delay (60-120 s).
set -uo pipefail

IMDS=${MOODLE_HA_IMDS:-http://169.254.169.254}
INTERVAL=${MOODLE_HA_WATCH_INTERVAL:-5}

token() {
  curl -sS -f -m 2 -X PUT "$IMDS/latest/api/token" \
    -H "X-aws-ec2-metadata-token-ttl-seconds: 300"
}

# meta TOKEN PATH: prints the metadata value; fails (404) when there is none.
meta() {
  curl -sS -f -m 2 -H "X-aws-ec2-metadata-token: $1" "$IMDS/latest/meta-data/$2"
}

leave_target_groups() {
  local t=$1 id region group arns arn
  id=$(meta "$t" instance-id) || return 1
  region=$(meta "$t" placement/region) || return 1
  group=$(meta "$t" tags/instance/aws:autoscaling:groupName) || return 1
  arns=$(aws autoscaling describe-auto-scaling-groups --region "$region" \
    --auto-scaling-group-names "$group" \
    --query 'AutoScalingGroups[0].TargetGroupARNs' --output text) || return 1
  for arn in $arns; do
    aws elbv2 deregister-targets --region "$region" \
      --target-group-arn "$arn" --targets "Id=$id" || return 1
  done
  logger -t moodle-ha-spot-watcher "notice received: $id left $arns"
}

while true; do
  if t=$(token); then
    if meta "$t" spot/instance-action >/dev/null 2>&1 ||
      meta "$t" events/recommendations/rebalance >/dev/null 2>&1; then
      if leave_target_groups "$t"; then
        exit 0
      fi
    fi
  fi
  sleep "$INTERVAL"
done
