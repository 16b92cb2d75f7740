#!/usr/bin/env bash
# Builds the Debian base images that Threadline's Dockerfiles start FROM, without any image registry:
#   docker.io/library/debian:sid-slim       (asterisk_conf/Dockerfile: Asterisk 22 is only in sid)
#   docker.io/library/debian:bookworm-slim  (Dockerfile: the engine, on Debian's python3)
# Each is a `debootstrap --variant=minbase` root imported into podman's store under the name the
# Dockerfile uses. An image already in the store is kept (a second run takes a second); to rebuild
# one, `podman rmi` it first. Needs root, debootstrap and podman.
#   containers/base-images.sh            # both
#   containers/base-images.sh bookworm   # one suite
# THREADLINE_DEBIAN_MIRROR overrides the mirror (default http://deb.debian.org/debian).
set -euo pipefail

mirror=${THREADLINE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suites=${*:-sid bookworm}
tmp=${TMPDIR:-/tmp}

fail() { echo "base-images: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (debootstrap needs it)"
command -v podman >/dev/null || fail "podman is not installed (apt-get install podman runc)"
command -v debootstrap >/dev/null || fail "debootstrap is not installed (apt-get install debootstrap)"
# /proc/mounts writes a space as \040 (decoded below); tabs, newlines and backslashes are not worth decoding.
case $tmp in
  *$'\t'* | *$'\n'* | *\\*) fail "TMPDIR '$tmp' contains a tab, newline or backslash; set TMPDIR to a plainer directory" ;;
esac

# Mount points inside a root, deepest first: an interrupted debootstrap can leave /proc or /sys mounted in it.
mounts_under() {
  awk -v prefix="$1/" '{ point = $2; gsub(/\\040/, " ", point); if (index(point, prefix) == 1) print point }' /proc/mounts | sort -r
}

# Deletes a root, but never through a mount.
remove_root() {
  [ -d "$1" ] || return 0
  local point
  while IFS= read -r point; do
    umount -l "$point" || true
  done < <(mounts_under "$1")
  [ -z "$(mounts_under "$1")" ] || fail "$1 still has mounts in it; unmount them and delete it by hand"
  rm -rf "$1"
}

root=""
staging=""
# Whatever stops the script (failure, Ctrl-C, kill) leaves no root on disk and no half-imported image.
clean_up() {
  if [ -n "$staging" ]; then podman rmi --force "$staging" >/dev/null 2>&1 || true; fi
  if [ -n "$root" ]; then remove_root "$root"; fi
  staging=""
  root=""
}
# An interrupted debootstrap's log is of no use (a failed one's is kept: the message names it).
interrupted() {
  if [ -n "$root" ]; then rm -f "$root.log"; fi
  exit "$1"
}
trap clean_up EXIT
trap 'interrupted 130' INT
trap 'interrupted 143' TERM

for suite in $suites; do
  case $suite in sid|bookworm) ;; *) fail "unknown suite '$suite': sid or bookworm" ;; esac
  image=docker.io/library/debian:$suite-slim
  if podman image exists "$image"; then
    echo "$image: already in podman's store, kept"
    continue
  fi
  root=$(mktemp -d "$tmp/threadline-$suite-root.XXXXXX")
  echo "$image: debootstrap $suite from $mirror (a minute or two)"
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; fail "debootstrap $suite failed (full log: $root.log)"; }
  rm -f "$root.log"
  # Slim as Docker's debian images are: no package lists, no downloaded packages, no docs or manuals.
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
  # Imported under a name of its own and named $image only once tar and import both succeeded: a truncated
  # root stored as $image would be "already in podman's store, kept" by every later run.
  staging=localhost/threadline-base-staging:$suite-$$
  tar -C "$root" --numeric-owner -c . \
    | podman import --quiet --change 'CMD ["/bin/bash"]' --message "debootstrap --variant=minbase $suite $mirror" - "$staging" >/dev/null \
    || fail "packing or importing the $suite root failed; nothing was stored as $image"
  podman tag "$staging" "$image"
  podman untag "$staging" "$staging"
  staging=""
  remove_root "$root"
  root=""
  echo "$image: imported ($(podman image inspect --format '{{.Size}}' "$image") bytes)"
done
