"""Upkeep of the annotation queue on the default queue: give the slots of lapsed leases back (from celery beat,
every LEASE_SWEEP_SECONDS: CELERY_BEAT_SCHEDULE in config/settings.py).

The claim also reclaims lazily when it finds nothing free; this sweep keeps the counters honest in between, so
breadth-first order sees every pair whose lease lapsed.
"""

from celery import shared_task

from annotation.services.assignment import leases_expire


@shared_task(name="workers.assignments.expire_leases")
def expire_leases() -> int:
    """Expire every lapsed lease, a batch at a time; returns how many."""
    total = 0
    while (n := leases_expire()) > 0:
        total += n
    return total
