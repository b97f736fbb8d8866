"""English date formats: Django's, with the time zone named in every date and time.

Times show in each user's zone (balances/web/time_zones.py); naming it ("7:56 p.m. JST")
keeps a time unambiguous wherever one is shown without a format of its own (the admin).
"""

DATETIME_FORMAT = "N j, Y, P T"
