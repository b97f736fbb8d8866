"""Sign-in backend: Django's ModelBackend, with whether two-factor is on read in the same
statement as the signed-in user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from . import selectors


class UserBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        """Return the session's active user, with `selectors.TWO_FACTOR_ON` read beside it
        (`selectors.user_with_two_factor`): the two-factor gate reads it there instead of
        asking the database again. It is read on every request as before, so turning
        two-factor on reaches every open session at its next request."""
        user = selectors.user_with_two_factor(user_id=user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
