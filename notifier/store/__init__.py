"""Durable records: customers and their preferences, notifications and their status history."""
