#!/usr/bin/env bash
# The web server and one Celery worker (all queues, with the beat scheduler for the run sweeper) side by side.
# Ctrl-C: the worker finishes its running tasks (a warm shutdown, quick when idle) and the server stops; a second
# Ctrl-C stops both at once (the worker's cold shutdown).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# Each child in its own process group, so a terminal's Ctrl-C reaches only this script, which signals each child
# exactly once. A worker that also received the terminal's SIGINT got a second, overlapping warm shutdown from
# here and hung for a minute or more with nothing to finish.
set -m
$PY -m celery -A config worker -B -Q default,media,gpu -c 2 -l warning &
worker=$!
# config's runserver: at most 8 requests at once and no connection kept past its request, so a burst of clients
# never exhausts PostgreSQL (config/management/commands/runserver.py).
$PY manage.py runserver "${BIND:-127.0.0.1:8000}" </dev/null &
server=$!
set +m
stopping=
stop() {
    if [[ -z $stopping ]]; then
        stopping=1
        kill -TERM "$worker" -"$server" 2>/dev/null || true
    else
        kill -QUIT "$worker" 2>/dev/null || true
        kill -KILL -"$server" 2>/dev/null || true
    fi
}
trap stop INT TERM HUP  # HUP: the terminal closed; the children, in groups of their own, would not get it
# Either child exiting (or a signal) ends the wait; then stop the other and wait for both, a second signal
# interrupting that wait. The exit status is the first child's (or 128 + the signal's number).
status=0
wait -n "$worker" "$server" || status=$?
[[ -n $stopping ]] || stop
while ! wait "$worker" "$server" 2>/dev/null; do
    kill -0 "$worker" 2>/dev/null || kill -0 -"$server" 2>/dev/null || break
done
exit "$status"
