"""notifier: case events in, plain-language email, text messages and letters out."""

__version__ = "0.1.0"
