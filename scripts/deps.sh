#!/bin/sh
# Installs the Debian packages diffsbi needs to build, test and plot, if any is
# missing. The one list of dependencies lives here; `make demo`, `make test` and
# .ci/run call this script. It says what it installs and does nothing when all
# packages are present. Set DSBI_NO_INSTALL=1 to only check.
set -eu
PKGS="pkg-config libopenblas-openmp-dev libcairo2-dev libcjson-dev libcriterion-dev"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
if [ "${DSBI_NO_INSTALL:-0}" = 1 ]; then
    echo "diffsbi: missing Debian packages:$missing" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "diffsbi: need root (or sudo) to install:$missing" >&2; exit 1
    fi
fi
echo "diffsbi: installing missing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "diffsbi: dependencies installed"
