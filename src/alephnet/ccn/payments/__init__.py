"""Balances, costs and their enforcement."""
