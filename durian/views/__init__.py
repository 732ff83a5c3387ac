"""The listener web interface: pages for a site's signed-in users (mounted by ``durian.urls``).

``hooks``: select an event. ``listeners``: create, list, edit, delete, show a new secret once.
``actions``: pause, resume, rotate the secret, send a test event. ``deliveries``: a listener's
deliveries and dead letters, and retrying a dead letter. ``access`` (in ``durian``) decides who
sees which listener.
"""
