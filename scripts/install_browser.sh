#!/usr/bin/env bash
# Install what the browser test needs from Debian/Ubuntu packages: Chromium, and a font with the
# book's symbols (emoji). Runs only where it can (as root with apt-get); elsewhere it says what to do,
# and tests/test_browser.py skips with the same advice (outside CI, where a missing browser fails).
set -u
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if command -v dpkg >/dev/null 2>&1 && ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then
  missing+=(fonts-noto-color-emoji)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing ${missing[*]} for the browser test (apt-get)..."
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    exit 0
  fi
  echo "apt-get could not install ${missing[*]}." >&2
fi
if ! command -v chromium >/dev/null 2>&1; then
  echo "Chromium is not installed, so the browser test will be skipped. To run it: sudo apt-get install chromium" >&2
fi
exit 0
