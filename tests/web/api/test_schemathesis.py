"""schemathesis against the live OpenAPI schema, with a token: no 5xx, nothing that contradicts the schema.

Runs in the whole suite (so ``.ci/run`` runs it) against pytest-django's live server; the run is
capped with ``--max-time``. Listener URLs schemathesis invents resolve nowhere (a fixed resolver
that knows no name), so nothing leaves loopback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token

from durian.testing import FixedResolver
from tests.web.conftest import dead_letter

MAX_TIME = os.environ.get("DURIAN_SCHEMATHESIS_MAX_TIME", "60")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_server_error_and_no_response_outside_the_schema(
    live_server, settings, redis_client, tmp_path
):
    settings.DURIAN_RESOLVER = FixedResolver({})
    user = User.objects.create_user("fuzz", password="pw")
    user.user_permissions.set(Permission.objects.filter(codename__endswith="_listener"))
    token = Token.objects.create(user=user)
    from example_project.people.hooks import PersonHook

    listener = PersonHook().listener(url="http://127.0.0.1:9/fuzz", owner=user).save()
    dead_letter(listener)
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    done = subprocess.run(
        [
            cli,
            "run",
            f"{live_server.url}/api/webhooks/schema/?format=json",
            "--url",
            live_server.url,
            "-H",
            f"Authorization: Token {token.key}",
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance",
            "--max-time",
            MAX_TIME,
            "--workers",
            "1",
            "--seed",
            "1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=int(MAX_TIME) + 120,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
