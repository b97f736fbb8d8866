"""Alerts: decide what fires, record it, and deliver it by e-mail and push.

- `evaluate`: a user's alert conditions (their connections, their rules) against the
  stored state; what starts to hold fires once (per-rule cooldown on top), what stops
  holding re-arms. Run in the worker after a stored refresh, after a webhook that changes
  an Item, and by beat's sweep; never in a web request.
- `after_refresh`: after refreshes, one evaluation per user and burst, run by its last
  refresh (no other of the user's Items pending).
- `record`: fired alerts become rows before anything is sent: one message per user and
  refresh cycle (ALERT_GROUP_SECONDS), one delivery per channel, queued on commit.
- `deliver`: send one delivery (a compare-and-set claim, retries with backoff, the state
  and the reason recorded); `render`: a message's subject, plain text and HTML.
- `rules`, `channels`: a user's settings (rules, alert choices, Apprise URLs; a test alert).
- `sweep`: beat's pass: connections not refreshed for too long, deliveries whose task
  was lost.

Imports selectors, models, crypto, shared state; tasks only lazily, where a delivery or an
evaluation is queued.
"""
