#!/bin/sh
# Builds the Debian base images that Threadline's Dockerfiles start FROM, without any image registry:
#   docker.io/library/debian:sid-slim       (asterisk_conf/Dockerfile: Asterisk 22 is only in sid)
#   docker.io/library/debian:bookworm-slim  (Dockerfile: the engine, on Debian's python3)
# Each is a `debootstrap --variant=minbase` root imported into podman's store under the name the
# Dockerfile uses. An image already in the store is kept (a second run takes a second); to rebuild
# one, `podman rmi` it first. Needs root, debootstrap and podman.
#   containers/base-images.sh            # both
#   containers/base-images.sh bookworm   # one suite
# THREADLINE_DEBIAN_MIRROR overrides the mirror (default http://deb.debian.org/debian).
set -eu

mirror=${THREADLINE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suites=${*:-sid bookworm}

fail() { echo "base-images: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (debootstrap needs it)"
command -v podman >/dev/null || fail "podman is not installed (apt-get install podman runc)"
command -v debootstrap >/dev/null || fail "debootstrap is not installed (apt-get install debootstrap)"

# Deletes a root, but never through a mount: an interrupted debootstrap can leave /proc or /sys mounted in it.
remove_root() {
  [ -d "$1" ] || return 0
  for point in $(awk -v prefix="$1/" 'index($2, prefix) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$point" || true
  done
  if awk -v prefix="$1/" 'index($2, prefix) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    fail "$1 still has mounts in it; unmount them and delete it by hand"
  fi
  rm -rf "$1"
}

for suite in $suites; do
  case $suite in sid|bookworm) ;; *) fail "unknown suite '$suite': sid or bookworm" ;; esac
  image=docker.io/library/debian:$suite-slim
  if podman image exists "$image"; then
    echo "$image: already in podman's store, kept"
    continue
  fi
  root=$(mktemp -d "${TMPDIR:-/tmp}/threadline-$suite-root.XXXXXX")
  trap 'remove_root "$root"' EXIT INT TERM
  echo "$image: debootstrap $suite from $mirror (a minute or two)"
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; fail "debootstrap $suite failed (full log: $root.log)"; }
  # Slim as Docker's debian images are: no package lists, no downloaded packages, no docs or manuals.
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
  tar -C "$root" --numeric-owner -c . \
    | podman import --quiet --change 'CMD ["/bin/bash"]' --message "debootstrap --variant=minbase $suite $mirror" - "$image" >/dev/null
  remove_root "$root"
  rm -f "$root.log"
  trap - EXIT INT TERM
  echo "$image: imported ($(podman image inspect --format '{{.Size}}' "$image") bytes)"
done
