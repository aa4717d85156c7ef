"""Upkeep of the annotation queue on the default queue: give the slots of lapsed leases back (from celery beat).

The claim also reclaims lazily when it finds nothing free; this sweep keeps the counters honest in between, so
breadth-first order sees every pair whose lease lapsed.
"""

import os

from celery import shared_task

from annotation.services.assignment import leases_expire
from config.celery import app

LEASE_SWEEP_SECONDS = float(os.environ.get("LEASE_SWEEP_SECONDS", "60"))

app.conf.beat_schedule = {
    **(app.conf.beat_schedule or {}),
    "expire-leases": {"task": "workers.assignments.expire_leases", "schedule": LEASE_SWEEP_SECONDS,
                      "options": {"expires": LEASE_SWEEP_SECONDS}},
}


@shared_task(name="workers.assignments.expire_leases")
def expire_leases() -> int:
    """Expire every lapsed lease, a batch at a time; returns how many."""
    total = 0
    while (n := leases_expire()) > 0:
        total += n
    return total
