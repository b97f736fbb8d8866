"""Plaid: the client (`client.py`, the only module of the app that imports `plaid`), its
errors and what each code means (`errors.py`), the reply types (`types.py`) and their
strict parsing (`parse.py`), Link's metadata (`link_metadata.py`), webhook signature
checks (`webhook_verification.py`) and webhook bodies (`webhook_body.py`).

May import Django settings and nothing else of the app: no models, no services.
"""
