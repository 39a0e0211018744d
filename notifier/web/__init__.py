"""The HTTP faces beyond health and metrics: the council systems' customers API, the residents'
pages and the providers' webhooks, each a router that ``notifier.app`` mounts."""
