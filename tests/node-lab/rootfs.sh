# shellcheck shell=bash
# tests/node-lab/rootfs.sh: the cached Debian 12 root file system the lab's nodes boot from.
# Sourced by tests/node-lab/run.
#
# A cache, not a modification of what a node runs: `debootstrap --variant=minbase bookworm`
# plus what a Debian cloud image has (systemd, dbus, cloud-init, locales, ca-certificates, curl), plus the
# packages the rendered user data asks for, downloaded once from Debian's archive so that a
# boot does not wait for them. cloud-init still runs `package_update` and `packages:` at every
# first boot (apt-get update against Debian's archive, then an install that finds them there).
# The services those packages enable on install (nginx, apache2, php-fpm, cron) are disabled in
# the cache: a node's boot script enables what its role needs, as on a fresh image where cloud-init
# installs them. Nothing else is changed: every lab stand-in is added per node (see `run`).
#
# The cache directory is keyed by the package list: a change of the rendered package list
# builds a new one. NODE_LAB_CACHE (default /var/cache/moodle-ha-node-lab) is outside the
# clone, so CI machines can keep it between runs.

NODE_LAB_CACHE=${NODE_LAB_CACHE:-/var/cache/moodle-ha-node-lab}
NODE_LAB_MIRROR=${NODE_LAB_MIRROR:-http://deb.debian.org/debian}
# Bump to rebuild every cache after a change to how it is built.
ROOTFS_FORMAT=4
# What a Debian cloud image has on top of minbase (cloud-init's locale module needs locales).
ROOTFS_BASE=(systemd systemd-sysv dbus cloud-init locales ca-certificates curl iproute2 procps less)

# rootfs_path PACKAGE...: the cache directory for this package list (printed).
rootfs_path() {
  local key
  key=$(printf '%s\n' "$ROOTFS_FORMAT" "${ROOTFS_BASE[@]}" "$@" | sort -u | sha256sum | cut -c1-12)
  echo "$NODE_LAB_CACHE/rootfs-bookworm-$key"
}

# rootfs_build PACKAGE...: builds the cache for this package list unless it is there; prints
# its path. Built in a temporary directory and renamed, so an interrupted build leaves no
# half-made cache.
rootfs_build() {
  local dir tmp t0=$SECONDS
  dir=$(rootfs_path "$@")
  if [[ -f $dir/.node-lab-complete ]]; then
    echo "$dir"
    return 0
  fi
  mkdir -p "$NODE_LAB_CACHE"
  tmp=$dir.partial
  rm -rf "$tmp"
  echo "node-lab: building the root file system cache $dir (debootstrap, then packages; a few minutes)" >&2
  debootstrap --variant=minbase bookworm "$tmp" "$NODE_LAB_MIRROR" >"$NODE_LAB_CACHE/debootstrap.log" 2>&1 || {
    echo "node-lab: debootstrap failed; see $NODE_LAB_CACHE/debootstrap.log" >&2
    tail -n 20 "$NODE_LAB_CACHE/debootstrap.log" >&2
    return 1
  }
  echo "node-lab: debootstrap done after $((SECONDS - t0))s" >&2
  # No service starts inside the chroot while packages are installed.
  printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
  chmod 0755 "$tmp/usr/sbin/policy-rc.d"
  cat >"$tmp/etc/apt/sources.list" <<EOF
deb $NODE_LAB_MIRROR bookworm main
deb $NODE_LAB_MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
  mount --bind /proc "$tmp/proc"
  if ! chroot "$tmp" /bin/sh -c "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${ROOTFS_BASE[*]} $*" \
    >"$NODE_LAB_CACHE/packages.log" 2>&1; then
    umount "$tmp/proc"
    echo "node-lab: installing packages into the cache failed; see $NODE_LAB_CACHE/packages.log" >&2
    tail -n 20 "$NODE_LAB_CACHE/packages.log" >&2
    return 1
  fi
  umount "$tmp/proc"
  chroot "$tmp" apt-get clean
  # The image's locale, as a Debian cloud image has it generated (cloud-init's locale module
  # sets LANG=en_US.UTF-8; Debian's locale-gen builds only what /etc/locale.gen lists).
  sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' "$tmp/etc/locale.gen"
  chroot "$tmp" locale-gen >/dev/null
  # What a node's role needs, its boot script enables (see the header).
  for unit in nginx apache2 apache-htcacheclean php8.2-fpm cron; do
    chroot "$tmp" systemctl disable "$unit" >/dev/null 2>&1 || true
  done
  # nfs-common's helpers, which EFS through the lab's mount.efs never uses: a container cannot
  # mount the kernel's RPC pipe file system (rpc_pipefs), and the nodes share the host's network,
  # so only one rpcbind could have port 111. Masked, so that a node's systemd can say "running".
  chroot "$tmp" systemctl mask run-rpc_pipefs.mount rpc_pipefs.target rpc-gssd.service \
    rpc-svcgssd.service rpcbind.socket rpcbind.service >/dev/null 2>&1 || true
  rm -f "$tmp/usr/sbin/policy-rc.d" "$tmp/etc/machine-id"
  : >"$tmp/etc/machine-id"
  touch "$tmp/.node-lab-complete"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  echo "node-lab: root file system cache ready after $((SECONDS - t0))s" >&2
  echo "$dir"
}
