"""Password guessing is throttled: failed sign-ins are counted per username and per client address with DRF's
rate throttles (history in the Django cache, Redis in production), for the token endpoint and the login pages.

Only failures count. Once a username has ``login_username`` failures in the window (20 a minute), every attempt
for it, the right password included, is refused with 429 and ``Retry-After`` until the oldest failure ages out;
other usernames are not affected. ``login_ip`` does the same per client address, with a higher limit, against
one address trying many usernames.
"""

import hashlib
import math
from functools import wraps

from django.template.response import TemplateResponse
from rest_framework.throttling import SimpleRateThrottle


class _FailedLoginThrottle(SimpleRateThrottle):
    def throttle_success(self) -> bool:
        return True  # an attempt is counted by failed(), once it has failed

    def failed(self) -> None:
        if getattr(self, "key", None) is None:
            return
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)

    def retry_after(self) -> int:
        return math.ceil(self.wait() or self.duration)


class LoginUsernameThrottle(_FailedLoginThrottle):
    scope = "login_username"

    def get_cache_key(self, request, view) -> str | None:
        username = getattr(request, "login_username", "").strip().lower()
        if not username:
            return None
        return self.cache_format % {"scope": self.scope, "ident": hashlib.sha256(username.encode()).hexdigest()}


class LoginAddressThrottle(_FailedLoginThrottle):
    scope = "login_ip"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginGate:
    """The throttles for one sign-in attempt: ``refused()`` before checking the password, ``failed()`` after."""

    def __init__(self, request, *, username: str):
        request.login_username = username if isinstance(username, str) else ""
        self.throttles = [LoginUsernameThrottle(), LoginAddressThrottle()]
        self._allowed = [t.allow_request(request, None) for t in self.throttles]

    def refused(self) -> int | None:
        """Seconds until an attempt is allowed again, or None when it is allowed now."""
        waits = [t.retry_after() for t, ok in zip(self.throttles, self._allowed, strict=True) if not ok]
        return max(waits) if waits else None

    def failed(self) -> None:
        for throttle in self.throttles:
            throttle.failed()


TOO_MANY = "Too many failed sign-ins for this account or from this address; try again in {seconds} s."


def login_throttled(view):
    """A Django login view (ours, the admin's) behind the same throttles: a failed attempt is a POST answered by
    the form again (200), a success is a redirect."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method != "POST":
            return view(request, *args, **kwargs)
        gate = LoginGate(request, username=request.POST.get("username", ""))
        wait = gate.refused()
        if wait is not None:
            response = TemplateResponse(request, "frontend/login.html", {"refused": TOO_MANY.format(seconds=wait)},
                                        status=429)
            response["Retry-After"] = str(wait)
            return response
        response = view(request, *args, **kwargs)
        if response.status_code == 200:
            gate.failed()
        return response

    return wrapped
