from django.apps import AppConfig


class SecurityConfig(AppConfig):
    """Two-factor sign-in, the staff 2FA requirement, the start-up key check, and the
    admin's guards (`admin_guards.py`)."""

    name = "finance.security"
    label = "security"
    verbose_name = "Security"

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers the system checks)
        from .admin_guards import guard_admin_site

        guard_admin_site()
