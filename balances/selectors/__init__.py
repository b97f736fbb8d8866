"""Reads: querysets and figures for pages, exports, the admin and `/healthz/`. No writes.

- `accounts`: a user's Items and accounts (and those entered by hand), the dashboard's
  groups and balances.
- `items`: Items' freshness; operator lists and an Item's status history.
- `history`: net worth by day and its change, an account's daily balances.
- `dashboard`: everything the dashboard shows, in a fixed number of queries.
- `exports`: every account and snapshot of a user, streamed.
- `health`: what `/healthz/` reports.
- `api_tokens`: a user's API tokens (their names, scopes and dates; never a token).
- `households`: which accounts a user may see (theirs, and what accepted shares show
  them), and the shares themselves: the one place every read of accounts asks.
- `alerts`: notifications, alert rules and channels (never a channel's URL), and what an
  evaluation of a user's alerts reads.

Imports models, domain rules and shared state; never services, tasks or the web.
"""
