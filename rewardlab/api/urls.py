"""Routes of /api/v1/ for reward and alignment runs (staff only)."""

urlpatterns: list = []
