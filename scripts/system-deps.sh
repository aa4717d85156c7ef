#!/usr/bin/env bash
# Install missing Debian/Ubuntu packages: scripts/system-deps.sh ffmpeg chromium
set -euo pipefail
missing=()
for pkg in "$@"; do
  case "$pkg" in
    chromium) [ -x /usr/bin/chromium ] || missing+=(chromium) ;;
    *) command -v "$pkg" >/dev/null 2>&1 || missing+=("$pkg") ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "Installing ${missing[*]} with apt-get"
# Another apt process (unattended upgrades on a fresh machine, a second make) may hold apt's locks: wait for it,
# up to APT_LOCK_WAIT seconds (default 10 minutes), instead of failing at once.
lock_wait=${APT_LOCK_WAIT:-600}
deadline=$((SECONDS + lock_wait))
# DPkg::Lock::Timeout covers the dpkg lock only, not the lists lock that `update` takes (apt 2.6): retry that.
until out=$($sudo apt-get update -qq 2>&1); do
  if [[ $out == *"Could not get lock"* ]] && ((SECONDS < deadline)); then
    echo "Another apt process holds its lock; waiting"
    sleep 5
  else
    echo "$out" >&2
    exit 1
  fi
done
DEBIAN_FRONTEND=noninteractive $sudo apt-get -o "DPkg::Lock::Timeout=$lock_wait" install -y -qq "${missing[@]}" >/dev/null
