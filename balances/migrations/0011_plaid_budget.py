from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("balances", "0010_profile_time_zone"),
    ]

    operations = [
        migrations.AddField(
            model_name="plaiditem",
            name="last_realtime_at",
            field=models.DateTimeField(blank=True, help_text="Last successful real-time (billed) balance refresh.", null=True),
        ),
        migrations.CreateModel(
            name="BalanceBudgetMonth",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("month", models.DateField(unique=True)),
                ("reserved", models.PositiveIntegerField(default=0)),
                ("spent_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={"verbose_name": "Plaid balance budget month"},
        ),
    ]
