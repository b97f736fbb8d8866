from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("balances", "0009_alerts"),
    ]

    operations = [
        migrations.AddField(
            model_name="profile",
            name="time_zone",
            field=models.CharField(
                blank=True, default="", help_text="Times are shown in this zone.", max_length=64
            ),
        ),
    ]
