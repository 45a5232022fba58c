#!/usr/bin/env bash
# System packages uscd needs beyond PyPI: bubblewrap, for the "namespace" sandbox level.
# Idempotent and quiet: does nothing when everything is present. Exit status 0 = all installed.
# Without bubblewrap uscd still works, at the weaker "process" sandbox level (docs/sandbox.md).
set -euo pipefail

packages=()
command -v bwrap >/dev/null 2>&1 || packages+=(bubblewrap)
((${#packages[@]} == 0)) && exit 0

if [[ $(id -u) -eq 0 ]]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "install-system-deps: need root to install ${packages[*]}; the sandbox falls back to the process level" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: no apt-get; install ${packages[*]} by hand (package 'bubblewrap')" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
install() { "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null 2>&1; }
# The package lists may be missing or stale on a fresh machine: update only when the install fails.
if ! install; then
    "${sudo[@]}" apt-get update -qq >/dev/null 2>&1 || true
    install || { echo "install-system-deps: apt-get install ${packages[*]} failed" >&2; exit 1; }
fi
echo "install-system-deps: installed ${packages[*]}"
