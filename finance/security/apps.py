from django.apps import AppConfig


class SecurityConfig(AppConfig):
    """Two-factor sign-in, the staff 2FA requirement, and the start-up key check."""

    name = "finance.security"
    label = "security"
    verbose_name = "Security"

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers the system checks)
