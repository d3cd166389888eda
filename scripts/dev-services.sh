#!/usr/bin/env bash
# What the dashboard's browser tests (tests/dashboard.rs) need on a
# developer's machine, as CI sets it up (.ci/run): Debian's `chromium` and
# `chromium-driver` packages, installed with apt-get when missing. Safe
# to run again: it installs nothing that is already there.
#
#   scripts/dev-services.sh
#   cargo test --all-features --test tests dashboard::
#
# The tests start `chromedriver` themselves (on a free port, with a
# fresh profile, killed at the end), so nothing is left running here.
# Without the two packages the tests print why and pass, except under
# CI=true, where they fail.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)

if ((${#missing[@]} == 0)); then
    echo "dev-services: chromium and chromedriver are installed"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "dev-services: missing ${missing[*]}, and no apt-get to install them;" \
        "install Chromium and its matching chromedriver and put both on PATH" >&2
    exit 1
fi

# Root installs directly (CI containers); anyone else through sudo.
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
fi
echo "dev-services: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
chromium --version
chromedriver --version
