#!/usr/bin/env bash
# Install what the browser test needs from Debian/Ubuntu packages: Chromium, and a font with the
# book's symbols (emoji). Runs only where it can (as root with apt-get); elsewhere it says what to do,
# and tests/test_browser.py skips with the same advice (outside CI, where a missing browser fails).
set -u
# Debian's chromium-headless-shell (the "old" headless Chromium, without the desktop browser
# around it) walks the book in about 20% less time than the full chromium; either will do.
have_browser() { command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1; }
apt_has() { apt-cache show "$1" >/dev/null 2>&1; }
need_font=0
if command -v dpkg >/dev/null 2>&1 && ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then
  need_font=1
fi
want_shell=0  # a browser is there, but the lighter headless shell could be had
if have_browser && ! command -v chromium-headless-shell >/dev/null 2>&1 && apt_has chromium-headless-shell; then
  want_shell=1
fi
have_browser && [ $need_font = 0 ] && [ $want_shell = 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  install() { apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
  fonts=()
  [ $need_font = 1 ] && fonts=(fonts-noto-color-emoji)
  echo "Installing the browser test's Chromium and fonts (apt-get)..."
  # A fresh machine has no package lists yet: update first. Then the headless shell where the
  # distribution has it, else the full chromium.
  if ! apt-get update -qq; then
    echo "apt-get update failed: nothing was installed." >&2
  elif apt_has chromium-headless-shell; then
    install chromium-headless-shell "${fonts[@]}" || echo "apt-get could not install chromium-headless-shell." >&2
  elif ! have_browser; then
    install chromium "${fonts[@]}" || echo "apt-get could not install chromium." >&2
  elif [ ${#fonts[@]} -gt 0 ]; then
    install "${fonts[@]}" || echo "apt-get could not install ${fonts[*]}." >&2
  fi
fi
if ! have_browser; then
  echo "Chromium is not installed, so the browser test will be skipped. To run it: sudo apt-get install chromium" >&2
fi
exit 0
