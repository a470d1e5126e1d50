#!/usr/bin/env bash
# The browser tests' Chromium: Debian's chromium and chromium-driver, installed with apt when
# missing. Where apt cannot install them (no apt, no root), say so: the tests then skip with
# that reason. Never fails the caller.
set -u
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_browser: no apt-get here: the browser tests will be skipped" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure_browser: not root and no password-less sudo: the browser tests will be" \
             "skipped" >&2
        exit 0
    fi
fi
echo "ensure_browser: installing Debian's chromium and chromium-driver" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null 2>&1 \
         && $SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } \
    || echo "ensure_browser: apt could not install chromium: the browser tests will be skipped" >&2
exit 0
