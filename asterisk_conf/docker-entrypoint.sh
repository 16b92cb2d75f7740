#!/bin/sh
# Asterisk drops root (runuser in asterisk.conf), so it must own its instance folders.
set -eu
base=/srv/threadline/default
if [ ! -f "$base/etc/asterisk.conf" ]; then
  echo "threadline-asterisk: $base/etc/asterisk.conf is missing; the asterisk-config service renders it (docker compose up)" >&2
  exit 1
fi
mkdir -p "$base/lib" "$base/spool/recording/calls" "$base/run" "$base/log"
chown -R asterisk:asterisk "$base"
umask 027  # raw recordings in the spool are callers' voices: no world-readable files
exec "$@"
