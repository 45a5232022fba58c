#!/usr/bin/env bash
# System packages uscd needs beyond PyPI: bubblewrap (the "namespace" sandbox level) and the
# toolchains + test libraries that execute MultiPL-E programs (docs/multipl-e.md), from Debian 12
# packages, plus TypeScript from npm (Debian's node-typescript is 4.8; MultiPL-E uses npm's tsc).
# Idempotent and quiet: installs only what is missing, prints nothing when everything is there.
# Exit status 0 = all installed. `uscd doctor` shows what each language has.
# Without bubblewrap uscd still works, at the weaker "process" sandbox level (docs/sandbox.md).
set -euo pipefail

# Looked up where the sandbox looks (a rustup or nvm under $HOME does not count: the sandbox cannot see it).
SANDBOX_PATH=/usr/local/bin:/usr/bin:/bin
have() { PATH=$SANDBOX_PATH command -v "$1" >/dev/null 2>&1; }
exists() { compgen -G "$1" >/dev/null; }

packages=()
need_command() { have "$1" || packages+=("$2"); }
need_file() { exists "$1" || packages+=("$2"); }

need_command bwrap bubblewrap
need_command g++ g++
need_command go golang-go
need_command javac default-jdk-headless
need_file /usr/share/java/javatuples.jar libjavatuples-java
need_command node nodejs
need_command lua lua5.3
need_file /usr/share/lua/5.3/luaunit.lua lua-unit
need_command php php-cli
need_command perl perl
need_file /usr/share/perl5/Test/Deep.pm libtest-deep-perl
need_command Rscript r-base-core
need_command ruby ruby
need_file '/usr/share/rubygems-integration/all/gems/test-unit-*/lib/test/unit.rb' ruby-test-unit
need_command rustc rustc
need_command mcs mono-mcs
need_command mono mono-runtime
need_file /usr/lib/mono/4.5/System.Numerics.dll libmono-system-numerics4.0-cil
need_command ldc2 ldc
need_command racket racket
need_command scalac scala
if ! have tsc && ! have npm; then packages+=(npm); fi

if [[ $(id -u) -eq 0 ]]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    sudo=(false)
fi

if ((${#packages[@]} > 0)); then
    if [[ ${sudo[*]} == false ]]; then
        echo "install-system-deps: need root to install ${packages[*]}" >&2
        exit 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install-system-deps: no apt-get; install the Debian packages ${packages[*]} by hand" >&2
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
fi

if ! have tsc; then
    if [[ ${sudo[*]} == false ]]; then
        echo "install-system-deps: need root for npm install -g typescript" >&2
        exit 1
    fi
    "${sudo[@]}" npm install -g --silent --no-fund --no-audit typescript@5 >/dev/null 2>&1 \
        || { echo "install-system-deps: npm install -g typescript failed" >&2; exit 1; }
    have tsc || { echo "install-system-deps: tsc not on $SANDBOX_PATH after npm install -g" >&2; exit 1; }
    echo "install-system-deps: installed typescript (npm)"
fi
