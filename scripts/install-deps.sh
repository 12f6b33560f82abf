#!/usr/bin/env bash
# Installs the Debian packages seize needs to build and test, if any are missing.
# Usage: scripts/install-deps.sh        (no-op when everything is present)
set -eu
pkgs="build-essential pkg-config libopenblas-dev libjpeg62-turbo-dev libpng-dev
libcurl4-openssl-dev libutf8proc-dev libjansson-dev zlib1g-dev valgrind clang libclang-rt-14-dev clang-format strace
python3-numpy python3-pil chromium nodejs libdnnl-dev libmicrohttpd-dev libopenmpi-dev openmpi-bin"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing" >&2
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
