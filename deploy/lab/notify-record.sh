#!/bin/sh
# The lab's notify script: appends keepalived-style notify arguments
# (INSTANCE GROUP STATE PRIORITY) with a millisecond timestamp to the file
# named first, so a person or a test can see every transition an agent made.
out=$1
shift
printf '%s %s\n' "$(date +%s%3N)" "$*" >> "$out"
