"""Writes: every change to the database, every Plaid call, every task queued.

- `linking`: Link tokens, the token exchange with its duplicate guard, update mode, unlink.
- `refresh`: one background refresh (lock, rate limits, retry decision); `store`: fetch
  from Plaid and store accounts, snapshots and daily totals (`bulk`: its UPDATE helper).
- `queueing`: queue refreshes (one Item, the fan-out, "Refresh now"); `beat`: the fan-out.
- `errors`, `calls`: record an Item's errors and its call log.
- `webhooks`: verify a webhook and apply it once (`webhook_keys`: Plaid's keys, fetched
  within bounds). `net_worth`: the daily totals. `history`: retention.
- `profiles`, `operations` (operator actions), `encryption` (key rotation).
- `api_tokens`: the read API's personal access tokens (create, revoke, authenticate).
- `manual_accounts`: accounts and assets entered by hand (create, edit, re-value, delete),
  keeping the daily totals.
- `households`: household shares (invite by username, accept, decline, end, choose
  accounts).
- `alerts/`: evaluate a user's alerts (after refreshes, webhooks, beat's sweep), record
  them, deliver them by e-mail and push (Apprise) with retries; rules and channels.

Imports selectors, models, domain rules, the Plaid package and shared state; tasks only
lazily where one is queued (`queueing`, `alerts.record`); never the web or the admin.
"""
