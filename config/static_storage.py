"""The production ``STORAGES["staticfiles"]`` entry: whitenoise's hashed, compressed files, with the page modules'
imports rewritten to the hashed names too, so that after a deploy a browser never runs a new page script against an
old cached api.js (or the reverse)."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
