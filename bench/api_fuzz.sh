#!/usr/bin/env bash
# Schemathesis over every operation of the API, as an admin and as an annotator, with only the
# not_a_server_error check, against a real server (gunicorn, 2 workers) on a database of its own holding the
# demo project. First sends issue 15's bad inputs (bench/api_bad_inputs.py); then prints how many schemathesis
# responses were 500 or above, per token and per operation.
#
#   ST=/path/to/st bench/api_fuzz.sh [max_examples]        # default 25 examples per operation and phase
#   ST=/path/to/st bench/api_fuzz.sh 0                      # only issue 15's bad inputs (bench/api_bad_inputs.py)
#
# Schemathesis is not a project dependency: install it anywhere (python -m venv /tmp/st && /tmp/st/bin/pip
# install schemathesis) and point ST at its `st`. Uses PostgreSQL database ${FUZZ_DB:-vidpref_fuzz} (dropped and made
# again) and Redis db ${REDIS_DB:-15}; nothing consumes the tasks the fuzzing queues.
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${1:-25}
DB=${FUZZ_DB:-vidpref_fuzz}
ST=${ST:?set ST to a schemathesis st executable}
PORT=${PORT:-8765}
OUT=$(mktemp -d /tmp/vidpref-fuzz-XXXX)
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB REDIS_URL=redis://127.0.0.1:6379/${REDIS_DB:-15}
export VIDPREF_DEV=1 DATA_DIR=$OUT/data DJANGO_SETTINGS_MODULE=config.settings
PGOPTIONS="-c client_min_messages=warning" psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
.venv/bin/python manage.py migrate -v 0
.venv/bin/python manage.py demo > "$OUT/demo.txt" 2>&1
token() { .venv/bin/python manage.py shell -v 0 -c "from rest_framework.authtoken.models import Token; from django.contrib.auth.models import User; print(Token.objects.get_or_create(user=User.objects.get(username='$1'))[0].key)"; }
ADMIN=$(token admin)
ANNOTATOR=$(.venv/bin/python manage.py shell -v 0 -c "from annotation.models import Membership; print(Membership.objects.filter(role='annotator').first().user.username)")
ANNOTATOR_TOKEN=$(token "$ANNOTATOR")
# Real ids for the path parameters (a lease for the annotator, too), so the cases reach past the 404s.
.venv/bin/python manage.py shell -v 0 -c "
from django.contrib.auth.models import User
from annotation.models import Pair, Project, Video
from annotation.services.assignment import assignment_next
project = Project.objects.order_by('pk').first()
lease = assignment_next(project=project, annotator=User.objects.get(username='$ANNOTATOR'))
print('[parameters]')
print(f'project_id = {project.pk}\nvideo_id = {Video.objects.filter(project=project).first().pk}')
print(f'pair_id = {Pair.objects.filter(project=project).first().pk}\nassignment_id = {lease.pk}')
" > "$OUT/schemathesis.toml"
.venv/bin/gunicorn config.wsgi -w 2 -b 127.0.0.1:$PORT --timeout 120 > "$OUT/gunicorn.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER' EXIT
for _ in $(seq 60); do curl -sf "http://127.0.0.1:$PORT/api/schema/" -o "$OUT/schema.yaml" && break; sleep 1; done
MANAGER_PASSWORD=$(awk '$1 == "manager" {print $2}' "$OUT/demo.txt")
PROJECT=$(awk '$1 == "project_id" {print $3}' "$OUT/schemathesis.toml")
.venv/bin/python bench/api_bad_inputs.py --url "http://127.0.0.1:$PORT" --token "$ADMIN" --project "$PROJECT" \
  --user manager --password "$MANAGER_PASSWORD"
[ "$EXAMPLES" = 0 ] && exit 0  # the bad inputs only
for who in admin annotator; do
  key=$ADMIN; [ "$who" = annotator ] && key=$ANNOTATOR_TOKEN
  (cd "$OUT" && "$ST" --config-file "$OUT/schemathesis.toml" run "$OUT/schema.yaml" --url "http://127.0.0.1:$PORT" --checks not_a_server_error -n "$EXAMPLES" \
    -H "Authorization: Token $key" --workers 2 --request-timeout 60 --report har \
    --report-har-path "$OUT/$who.har" --no-color > "$OUT/$who.txt" 2>&1 || true)  # its cache goes in $OUT
  tail -n 4 "$OUT/$who.txt"
done
.venv/bin/python - "$OUT" <<'PY'
import collections, json, sys
out = sys.argv[1]
for who in ("admin", "annotator"):
    entries = json.load(open(f"{out}/{who}.har"))["log"]["entries"]
    bad = collections.Counter(f"{e['request']['method']} {e['request']['url'].split('?')[0]} -> {e['response']['status']}"
                              for e in entries if e["response"]["status"] >= 500)
    print(f"{who}: {len(entries)} responses, {sum(bad.values())} of 500 or above")
    for line, n in bad.most_common():
        print(f"  {n:5d}  {line}")
print(f"reports in {out}")
PY
