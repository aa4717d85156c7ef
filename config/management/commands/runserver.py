"""``runserver`` that never holds more than a few database connections, however many clients call at once.

Django's development server starts a thread for every connection, and every thread opens its own database
connection. Kept open (``CONN_MAX_AGE``) they outlive their threads, and a burst of requests made PostgreSQL
refuse the next ones ("too many clients already", 500s). So here, as Django's docs advise, no connection is
kept past its request, and at most ``CONCURRENT_REQUESTS`` requests run at once (the others wait for a slot):
the server holds at most that many connections. SQLite, the embedded default, gets fewer writers queueing too.
"""

import threading

from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import Command as StaticfilesRunserver
from django.core.servers.basehttp import WSGIServer

CONCURRENT_REQUESTS = 8


class _Server(WSGIServer):
    # Django's backlog of 10 overflows under a burst of new connections and the kernel resets the ones over it.
    request_queue_size = 128


class _Slots:
    """A WSGI application that runs at most ``n`` requests of ``app`` at once. A request keeps its slot until its
    response is closed, which is when Django closes the request's database connection."""

    def __init__(self, app, n: int):
        self.app = app
        self.free = threading.BoundedSemaphore(n)

    def __call__(self, environ, start_response):
        self.free.acquire()
        try:
            return _Releasing(self.app(environ, start_response), self.free.release)
        except BaseException:
            self.free.release()
            raise


class _Releasing:
    """The response body, handing the slot back once the server closes it (also after a broken pipe)."""

    def __init__(self, body, release):
        self.body, self.release = body, release

    def __iter__(self):
        return iter(self.body)

    def close(self):
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            if self.release is not None:
                self.release, release = None, self.release
                release()


class Command(StaticfilesRunserver):
    server_cls = _Server
    help = StaticfilesRunserver.help + f" At most {CONCURRENT_REQUESTS} requests at once, no persistent database connections."

    def handle(self, *args, **options):
        for database in settings.DATABASES.values():
            database["CONN_MAX_AGE"] = 0  # a thread per request: a kept connection would outlive its thread
        super().handle(*args, **options)

    def get_handler(self, *args, **options):
        return _Slots(super().get_handler(*args, **options), CONCURRENT_REQUESTS)
