"""State shared by every process: per-Item locks, Plaid rate limits, "Refresh now" intervals,
what webhooks may cost and which were received.

`api.py` is what the rest of the app calls; `redis.py` (production) and `file.py` (one
machine without Redis) are its backends, chosen by THROTTLE_REDIS_URL; `memory.py` is one
process's memory, for callers that must stay bounded without either. May import only
Django settings; knows nothing of models, Plaid or services.
"""
