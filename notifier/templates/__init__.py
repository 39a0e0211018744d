"""Templates: the catalogue of template files, the Jinja2 environments (sandboxed for template
files), rendering per channel, text-message encoding and the plain-language checks. Pure: no I/O
but reading the catalogue."""
