#!/usr/bin/env bash
# Installs the host packages keepvip, its lab and its tests use, if missing:
# nginx, ip (iproute2), arping (iputils-arping), ping, tcpdump, keepalived (the
# benchmark baseline), systemd (systemd-analyze verify), etcd + etcdctl (the
# replicated coordinator's store; the lab and the etcd tests run their own
# members), nft (nftables: lossless planned moves), ndisc6 (IPv6 VIPs: who answers for
# an address, as arping does for IPv4), na6 (ipv6toolkit: the unsolicited neighbour
# advertisements that announce IPv6 VIPs), promtool (prometheus: the alert rules' tests,
# deploy/monitoring), chromium (headless, driven by the status page's browser test).
# Idempotent and quick when everything is there. Needs root (apt-get) only when something
# is missing.
set -euo pipefail
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
[ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || need+=(iproute2)
[ -x /usr/sbin/arping ] || [ -x /usr/bin/arping ] || need+=(iputils-arping)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v tcpdump >/dev/null 2>&1 || [ -x /usr/bin/tcpdump ] || need+=(tcpdump)
command -v keepalived >/dev/null 2>&1 || [ -x /usr/sbin/keepalived ] || need+=(keepalived)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ] || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || [ -x /usr/bin/etcdctl ] || need+=(etcd-client)
[ -x /usr/sbin/nft ] || need+=(nftables)
[ -x /usr/bin/ndisc6 ] || need+=(ndisc6)
[ -x /usr/sbin/na6 ] || need+=(ipv6toolkit)
command -v promtool >/dev/null 2>&1 || [ -x /usr/bin/promtool ] || need+=(prometheus)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "keepvip: missing host packages: ${need[*]} — run as root or: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "keepvip: installing host packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps the packages from starting their own daemons (nginx on :80, keepalived,
# etcd on :2379 with a data dir in /var/lib/etcd that our members never use, prometheus
# on :9090: the tests run its promtool only).
policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; created=1; fi
trap '[ "$created" = 1 ] && rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# A policy-rc.d that was already there may allow starts, and Debian enables prometheus's
# unit for the next boot: stop it if it runs and disable it, so nothing serves :9090.
if [[ " ${need[*]} " == *" prometheus "* ]]; then
  if [ -d /run/systemd/system ] && systemctl is-active --quiet prometheus; then systemctl stop prometheus; fi
  systemctl disable prometheus >/dev/null 2>&1 || true
fi
echo "keepvip: host packages installed" >&2
