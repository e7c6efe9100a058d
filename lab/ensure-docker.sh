#!/usr/bin/env bash
# Make sure this Debian machine can run the lab and its tests: the Docker
# engine, debootstrap, chromium, promtool and the Prometheus Pushgateway installed, dockerd running. Safe to run again; prints what it does.
# Needs root (apt-get, dockerd). No systemd is assumed: dockerd is started in
# its own session and we wait for its socket.
set -euo pipefail

say() { printf 'lab: %s\n' "$*"; }

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
# Headless Chromium renders the HTML fleet report in the tests.
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
# The SSH client and ssh-keygen: lab hosts reached over SSH (lab.py up --connection ssh).
command -v ssh-keygen >/dev/null 2>&1 || need_pkgs+=(openssh-client)
# promtool (Debian's prometheus package) checks fleet.prom; the tests start their own Pushgateway on
# 127.0.0.1 and stop it: neither package's service may start here.
command -v promtool >/dev/null 2>&1 || need_pkgs+=(prometheus)
command -v prometheus-pushgateway >/dev/null 2>&1 || need_pkgs+=(prometheus-pushgateway)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    say "installing ${need_pkgs[*]} from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    # No package's service starts on install (Docker images ship this policy; a machine without one gets it
    # for the length of the install only).
    policy=/usr/sbin/policy-rc.d
    own_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && own_policy=1
    fi
    status=0
    { apt-get update -q >/dev/null && apt-get install -y -q "${need_pkgs[@]}" >/dev/null; } || status=$?
    if [ -n "$own_policy" ]; then rm -f "$policy"; fi
    [ "$status" -eq 0 ] || exit "$status"
fi

if docker info >/dev/null 2>&1; then
    exit 0
fi

log=/var/log/opsiface-dockerd.log
say "starting dockerd (log: $log)"
setsid dockerd >"$log" 2>&1 </dev/null &
for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        say "dockerd is up"
        exit 0
    fi
    sleep 1
done
say "dockerd did not answer within 60 s; last lines of $log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
