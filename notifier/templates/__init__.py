"""Templates: the catalogue of template files, the sandboxed Jinja2 environments, rendering per
channel, text-message encoding and the plain-language checks. Pure: no I/O but reading the
catalogue."""
