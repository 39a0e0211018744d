"""Fault injection (marker ``faults``): the real service on PostgreSQL and RabbitMQ, with a worker
killed or stopped, the broker closing its connections, the SMTP relay unreachable, Twilio failing,
database connections killed, a poison template and fuzzed events. Every test accounts for each
event it published and prints one report line (also in the terminal summary).

    .venv/bin/pytest -m faults
"""
