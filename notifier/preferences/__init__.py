"""Customers' contact preferences: the model, the pure policy and their store."""
