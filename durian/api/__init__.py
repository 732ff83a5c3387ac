"""The subscriptions API (the ``api`` extra: Django REST framework and drf-spectacular).

Mount it with ``path("api/webhooks/", include("durian.api.urls"))`` and add ``"rest_framework"``
and ``"rest_framework.authtoken"`` to ``INSTALLED_APPS``, and set
``REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}``. Clients authenticate with a DRF token
(``Authorization: Token <key>``) or the session; they may do exactly what the web pages let them
do (``durian.web.access``). The OpenAPI 3 schema is served at ``schema/``.
"""
