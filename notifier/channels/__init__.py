"""Channels: one module per provider behind the one ``Channel`` protocol of ``base.py``."""
