"""The web: views, their forms and input cleaning, presenters (JSON and CSV shapes) and
template tags.

Imports services (writes), selectors (reads), models and the Plaid package's errors;
never the Plaid client, the ORM directly from a view, or tasks.
"""
