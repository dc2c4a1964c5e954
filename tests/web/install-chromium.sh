#!/bin/sh
# The browser test drives Debian's Chromium (nothing is downloaded by Playwright itself).
# Installs it when missing; needs root or sudo and Debian's package registry.
set -e
for name in chromium chromium-browser google-chrome; do
    command -v "$name" >/dev/null 2>&1 && exit 0
done
if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
