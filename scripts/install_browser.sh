#!/usr/bin/env bash
# Install what the browser test needs from Debian/Ubuntu packages: Chromium, and a font with the
# book's symbols (emoji). Runs only where it can (as root with apt-get); elsewhere it says what to do,
# and tests/test_browser.py skips with the same advice (outside CI, where a missing browser fails).
set -u
# Debian's chromium-headless-shell (the "old" headless Chromium, without the desktop browser
# around it) walks the book in about 20% less time than the full chromium; either will do.
have_browser() { command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1; }
missing=()
if ! command -v chromium-headless-shell >/dev/null 2>&1; then
  if command -v apt-cache >/dev/null 2>&1 && apt-cache show chromium-headless-shell >/dev/null 2>&1; then
    missing+=(chromium-headless-shell)
  elif ! command -v chromium >/dev/null 2>&1; then
    missing+=(chromium)
  fi
fi
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
if ! have_browser; then
  echo "Chromium is not installed, so the browser test will be skipped. To run it: sudo apt-get install chromium" >&2
fi
exit 0
