#!/usr/bin/env bash
# The web server and one Celery worker (all queues, with the beat scheduler for the run sweeper) side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
$PY -m celery -A config worker -B -Q default,media,gpu -c 2 -l warning &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM
# config's runserver: at most 8 requests at once and no connection kept past its request, so a burst of clients
# never exhausts PostgreSQL (config/management/commands/runserver.py).
$PY manage.py runserver "${BIND:-127.0.0.1:8000}"
