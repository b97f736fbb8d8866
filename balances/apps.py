from django.apps import AppConfig


class BalancesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "balances"
    verbose_name = "Balances"

    def ready(self) -> None:
        # Connects the login receiver that reads the user's time zone into the session.
        from balances.web import time_zones  # noqa: F401
