"""State shared by every process: per-Item locks, Plaid rate limits, "Refresh now" intervals.

`api.py` is what the rest of the app calls; `redis.py` (production) and `file.py` (one
machine without Redis) are its backends, chosen by THROTTLE_REDIS_URL. May import only
Django settings; knows nothing of models, Plaid or services.
"""
