"""Pure rules of the app's figures: no ORM, no I/O, no settings; anything may import them.

- `totals`: assets, liabilities and net worth per currency (never summed across
  currencies), their order on every page, and the running totals history is built from.
- `groups`: the dashboard's account groups (Cash, Investments, ...) and their order.
- `periods`: the chart's ranges and the change's periods.
- `amounts`: amounts as exact decimal text, a credit account's utilization.
- `currencies`: the currency codes a user may type (ISO 4217, or a crypto ticker).
- `balance_age`: when a balance call must say how old a balance may be (Capital One's
  cards), and when a balance shows its own time ("as of …").
"""
