"""The read API, `/api/v1/`: JSON for scripts and other apps, documented by OpenAPI.

Django REST framework views (`views`) read through selectors and write through services,
like the web layer beside it; `authentication` (personal access tokens as
`Authorization: Bearer <token>`, or the browser's session), `permissions` (a token's scope),
`throttling` (API_THROTTLE_RATE per token), `errors` (every error as `{"detail": ...}`),
`serializers` (the JSON shapes and their OpenAPI schema), `urls`.

Imports services, selectors, models, domain rules and shared state; never the web or the
admin (its siblings), never the Plaid client.
"""
