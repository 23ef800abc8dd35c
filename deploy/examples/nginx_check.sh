#!/bin/sh
# keepvip's chk_nginx: passes while an nginx master runs. Unlike the seed's
# script it does not restart nginx or stop anything (the agent supervises nginx
# and releases the VIP itself when nginx cannot start), and it never sleeps, so
# it always finishes inside its interval.
pidfile=${1:-/run/nginx.pid}
[ -r "$pidfile" ] || exit 1
pid=$(cat "$pidfile")
[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
