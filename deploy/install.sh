#!/usr/bin/env bash
# Puts keepvip's systemd units, example configs, state directories and the
# certificate directory /etc/keepvip/pki (0700) in place, then names each
# certificate file the configs point at that is not there yet, with the
# `keepvip certs` command that makes it (a note, not a failure).
# Idempotent: run it again after every upgrade. It never overwrites a config in
# /etc/keepvip (yours, edited or not); the examples it would have used are kept
# fresh in /etc/keepvip/examples/ for comparison. The units are keepvip's own
# and are updated; change them with drop-ins (systemctl edit keepvip-agent).
# It does not enable or start anything, and makes no certificate.
#
# Usage: deploy/install.sh [--destdir DIR] [--bindir DIR]
#   --destdir DIR  install under DIR instead of / (packaging, tests); env DESTDIR
#   --bindir DIR   where the keepvip-* bins are (default: found on PATH, else
#                  /usr/local/bin, npm's global bin dir); env BINDIR
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
destdir="${DESTDIR:-}"
bindir="${BINDIR:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --destdir) destdir="${2:?--destdir needs a directory}"; shift 2 ;;
    --destdir=*) destdir="${1#*=}"; shift ;;
    --bindir) bindir="${2:?--bindir needs a directory}"; shift 2 ;;
    --bindir=*) bindir="${1#*=}"; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
destdir="${destdir%/}"
if [ -z "$bindir" ]; then
  found="$(command -v keepvip-agent 2>/dev/null || true)"
  bindir="${found:+$(dirname "$found")}"
  bindir="${bindir:-/usr/local/bin}"
fi

changed=0
say() { printf '%-10s %s\n' "$1" "$2"; }

# A file of ours: written when missing or different, reported either way.
put_ours() { # SRC DEST MODE
  local src="$1" dest="$destdir$2" mode="$3"
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
    if [ "$(stat -c %a "$dest")" != "$mode" ]; then chmod "$mode" "$dest"; say "mode" "$2 ($mode)"; changed=1; else say "unchanged" "$2"; fi
    return
  fi
  local verb="installed"; [ -e "$dest" ] && verb="updated"
  install -D -m "$mode" "$src" "$dest"
  say "$verb" "$2"; changed=1
}

# A file of the operator's: written only when missing, never touched after.
put_once() { # SRC DEST MODE
  local src="$1" dest="$destdir$2" mode="$3"
  if [ -e "$dest" ]; then say "kept" "$2 (exists; yours, left alone)"; return; fi
  install -D -m "$mode" "$src" "$dest"
  say "installed" "$2 (from ${src#"$here"/}: edit it)"; changed=1
}

make_dir() { # DIR MODE
  local dir="$destdir$1" mode="$2"
  if [ -d "$dir" ]; then say "kept" "$1/ ($(stat -c %a "$dir"))"; return; fi
  install -d -m "$mode" "$dir"
  say "created" "$1/ ($mode)"; changed=1
}

# The units name /usr/local/bin; point them at the bins' real directory.
render_unit() { # SRC OUT
  sed "s#/usr/local/bin/keepvip-#${bindir%/}/keepvip-#g" "$1" >"$2"
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "keepvip install into ${destdir:-/} (bins in $bindir)"
for unit in "$here"/systemd/*.service; do
  name="$(basename "$unit")"
  render_unit "$unit" "$tmp/$name"
  put_ours "$tmp/$name" "/etc/systemd/system/$name" 644
done

make_dir /etc/keepvip 755
# Certificates and keys (keepvip certs ... --dir /etc/keepvip/pki): root only.
make_dir /etc/keepvip/pki 700
for f in coordinator.yaml agent-lb1.yaml agent-lb2.yaml nginx_check.sh nginx/my.conf; do
  mode=644; case "$f" in *.sh) mode=755 ;; esac
  put_ours "$here/examples/$f" "/etc/keepvip/examples/$f" "$mode"
done
put_once "$here/examples/coordinator.yaml" /etc/keepvip/coordinator.yaml 640
put_once "$here/examples/agent-lb1.yaml" /etc/keepvip/agent.yaml 640
# The example agent config's track script (the seed's chk_nginx).
put_once "$here/examples/nginx_check.sh" /etc/keepvip/nginx_check.sh 755

# state_dir defaults; systemd's StateDirectory= would create them too, these
# serve runs outside systemd. Private: epochs, pins, event history.
make_dir /var/lib/keepvip 700
make_dir /var/lib/keepvip-agent 700

for bin in keepvip-agent keepvip-coordinator keepvip; do
  [ -x "$bindir/$bin" ] || say "note" "$bindir/$bin not found: install the package first (npm install -g keepvip-<version>.tgz) or pass --bindir"
done

if [ -n "$destdir" ]; then
  say "skipped" "systemctl daemon-reload (installing into $destdir)"
elif [ ! -d /run/systemd/system ] || ! command -v systemctl >/dev/null 2>&1; then
  say "skipped" "systemctl daemon-reload (systemd is not running here)"
elif [ "$changed" = 1 ]; then
  systemctl daemon-reload
  say "ran" "systemctl daemon-reload"
else
  say "skipped" "systemctl daemon-reload (nothing changed)"
fi

# The ca, cert and key paths of a config's top-level tls: section, one per line
# (block style or { ca: ..., cert: ..., key: ... } on one line; quotes and comments dropped).
tls_paths() { # FILE
  awk -v sq="'" '
    function pairs(s,   n, i, part) {
      sub(/[ \t]+#.*$/, "", s); gsub(/[{}]/, "", s)
      n = split(s, part, ",")
      for (i = 1; i <= n; i++) {
        if (part[i] !~ /^[ \t]*(ca|cert|key)[ \t]*:/) continue
        sub(/^[ \t]*(ca|cert|key)[ \t]*:[ \t]*/, "", part[i]); gsub(/"/, "", part[i]); gsub(sq, "", part[i]); sub(/[ \t]+$/, "", part[i])
        if (part[i] ~ /^\//) print part[i]
      }
    }
    /^tls:/ { t = 1; s = $0; sub(/^tls:/, "", s); pairs(s); next }
    t && /^[ \t]/ { pairs($0); next }
    t && /^[^ \t#]/ { t = 0 }
  ' "$1"
}

# --san for the coordinator's certificate: the host agents dial (agent.yaml's coordinator:).
coordinator_san() {
  local h
  h="$(sed -n "s/^coordinator:[[:space:]]*[\"']\{0,1\}\([^\"' #]*\).*/\1/p" "$destdir/etc/keepvip/agent.yaml" 2>/dev/null | head -n 1)"
  h="${h%:*}"; h="${h#[}"; h="${h%]}"
  echo "${h:-ADDRESSES}"
}

# The `keepvip certs` command that writes FILE (keepvip certs names its files <stem>.crt/.key).
cert_command() { # FILE
  local dir base node
  dir="$(dirname "$1")" base="$(basename "$1")"
  case "$base" in
    ca.crt) echo "keepvip certs init --dir $dir" ;;
    coordinator.crt | coordinator.key) echo "keepvip certs issue-coordinator --san $(coordinator_san) --dir $dir" ;;
    agent-?*.crt | agent-?*.key) node="${base#agent-}"; echo "keepvip certs issue-agent ${node%.*} --dir $dir" ;;
    *) echo "not a name keepvip certs writes: point the config at its ca.crt, coordinator.* or agent-NODE.*" ;;
  esac
}

# The certificates the installed configs name: what is there, what is not and how to make it.
missing=0 seen=" "
for conf in /etc/keepvip/coordinator.yaml /etc/keepvip/agent.yaml; do
  [ -f "$destdir$conf" ] || continue
  while IFS= read -r file; do
    case "$seen" in *" $file "*) continue ;; esac
    seen="$seen$file "
    if [ -e "$destdir$file" ]; then
      say "found" "$file"
    else
      say "missing" "$file: $(cert_command "$file")"; missing=1
    fi
  done < <(tls_paths "$destdir$conf")
done
if [ "$missing" = 1 ]; then
  say "note" "run keepvip certs on the one host that keeps the CA (ca.key never leaves it), then copy ca.crt and each host's own .crt and .key to its /etc/keepvip/pki (keys 0600): the coordinator's host needs what coordinator.yaml names, an LB what agent.yaml names"
fi

cat <<EOF

next steps (README.md, Install, has every command):
  certificates:     on the host that keeps the CA: keepvip certs init, issue-coordinator --san ADDRESS,
                    issue-agent NODE for each LB, issue-admin NAME (all with --dir /etc/keepvip/pki);
                    copy ca.crt and each host's own .crt and .key to its /etc/keepvip/pki (keys 0600)
  coordinator host: edit /etc/keepvip/coordinator.yaml, then
                    keepvip-coordinator --config /etc/keepvip/coordinator.yaml --check,
                    systemctl enable --now keepvip-coordinator
  each LB host:     edit /etc/keepvip/agent.yaml (node_id and its tls files, coordinator, groups, nginx),
                    keepvip-agent --config /etc/keepvip/agent.yaml --preflight,
                    stop keepalived, then systemctl enable --now keepvip-agent
  then, anywhere:   keepvip --ca /etc/keepvip/pki/ca.crt --cert /etc/keepvip/pki/admin-NAME.crt \\
                      --key /etc/keepvip/pki/admin-NAME.key --coordinator ADDRESS:7400 status
EOF
