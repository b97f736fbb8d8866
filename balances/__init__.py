"""Linked Plaid Items, their accounts and balance history."""
