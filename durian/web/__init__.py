"""The listener web interface: pages for a site's signed-in users (mounted by ``durian.urls``).

``events``: select an event. ``listeners``: create, list, edit, delete, show a new secret once;
``listing`` the list's search, state filter and pages, kept across pause and resume.
``actions``: pause, resume, rotate the secret, send a test event. ``deliveries``: a listener's
deliveries and dead letters, and retrying a dead letter. ``access`` decides who sees which
listener; ``forms`` holds the listener form, ``hookfields`` what it knows of a hook's fields, and
``sample`` the test events. ``dashboard`` and ``charts``: the admin's delivery-health page.
"""
