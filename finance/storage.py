"""Static files in production: whitenoise's compressed files under hashed names.

Hashed names (`app.3f2a….css`) let whitenoise tell browsers to cache them forever; a
new release has new names. Built once by `collectstatic`; costs nothing per request.
"""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Whitenoise's storage, leaving source-map comments as they are.

    Vendored libraries ship without their source maps (static/vendor/README.md: the
    package's file, unmodified), and Django's storage fails `collectstatic` on a comment
    naming a missing map. Browsers fetch maps only in developer tools; a missing one is
    a 404 there and nothing else.
    """

    patterns = tuple(
        (glob, tuple(p for p in rules if "sourceMappingURL" not in str(p)))
        for glob, rules in CompressedManifestStaticFilesStorage.patterns
    )
