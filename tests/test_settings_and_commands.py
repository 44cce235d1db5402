"""Production settings refuse unsafe starts; operator commands behave as documented."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "POS_VAR_DIR": str(tmp_path), "POS_ENV_FILE": str(tmp_path / "none.env")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**base, **env})


GOOD_KEY = "k3y-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP!@#%^&*(-_=+)"


@pytest.mark.parametrize(("env", "message"), [
    ({"DJANGO_SECRET_KEY": GOOD_KEY, "DJANGO_ALLOWED_HOSTS": "pos.example"}, None),
    ({"DJANGO_ALLOWED_HOSTS": "pos.example"}, "DJANGO_SECRET_KEY is required"),
    ({"DJANGO_SECRET_KEY": GOOD_KEY}, "DJANGO_ALLOWED_HOSTS is required"),
    ({"DJANGO_SECRET_KEY": GOOD_KEY, "DJANGO_ALLOWED_HOSTS": "pos.example", "DJANGO_DEBUG": "1"},
     "DJANGO_DEBUG must be off"),
    ({"DJANGO_SECRET_KEY": "short-secret", "DJANGO_ALLOWED_HOSTS": "pos.example"}, "at least 50 characters"),
    ({"DJANGO_SECRET_KEY": "x" * 60, "DJANGO_ALLOWED_HOSTS": "pos.example"}, "at least 50 characters"),
    ({"DJANGO_SECRET_KEY": "insecure-development-key-never-use-in-production", "DJANGO_ALLOWED_HOSTS": "pos.example"},
     "development or default key"),
    ({"DJANGO_SECRET_KEY": "django-insecure-" + GOOD_KEY, "DJANGO_ALLOWED_HOSTS": "pos.example"},
     "development or default key"),
])
def test_production_refuses_to_start_unsafely(tmp_path, env, message):
    result = _manage("check", env={"POS_ENV": "production", **env}, tmp_path=tmp_path)
    if message is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0
        assert message in result.stderr


def test_a_dotenv_file_is_read_and_the_environment_wins_over_it(tmp_path):
    env_file = tmp_path / "prod.env"
    env_file.write_text("# production box\nPOS_ENV=production\nDJANGO_ALLOWED_HOSTS=pos.example\n")
    refused = _manage("check", env={"POS_ENV_FILE": str(env_file)}, tmp_path=tmp_path)
    assert refused.returncode != 0
    assert "DJANGO_SECRET_KEY is required" in refused.stderr
    overridden = _manage("check", env={"POS_ENV_FILE": str(env_file), "POS_ENV": "development"}, tmp_path=tmp_path)
    assert overridden.returncode == 0, overridden.stderr


@pytest.mark.parametrize(("env", "variable"), [
    ({"DJANGO_DEBUG": "ture"}, "DJANGO_DEBUG"),
    ({"CELERY_TASK_ALWAYS_EAGER": "yes please"}, "CELERY_TASK_ALWAYS_EAGER"),
    ({"EVENTS_MAX_ATTEMPTS": "five"}, "EVENTS_MAX_ATTEMPTS"),
    ({"POS_ORDER_MAX_LINES": "5O"}, "POS_ORDER_MAX_LINES"),
])
def test_a_malformed_setting_stops_the_start_naming_its_variable(tmp_path, env, variable):
    result = _manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert f'Environment variable "{variable}" invalid' in result.stderr


def test_settings_are_read_as_documented(tmp_path):
    """An empty variable means its default (as in .env.example); booleans and lists read the usual spellings."""
    script = ("from django.conf import settings as s; "
              "print(s.DEBUG, s.EVENTS_MAX_ATTEMPTS, s.ALLOWED_HOSTS, s.CELERY_TASK_ALWAYS_EAGER, s.POS_ORDER_MAX_LINES)")
    result = _manage("shell", "-c", script, tmp_path=tmp_path,
                     env={"DJANGO_DEBUG": "off", "EVENTS_MAX_ATTEMPTS": "", "CELERY_TASK_ALWAYS_EAGER": "TRUE",
                          "DJANGO_ALLOWED_HOSTS": " a.example, ,b.example ", "POS_ORDER_MAX_LINES": "20"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "False 5 ['a.example', 'b.example'] True 20"


def test_production_passes_check_deploy_without_warnings(tmp_path):
    secret = GOOD_KEY
    result = _manage("check", "--deploy", "--fail-level", "WARNING",
                     env={"POS_ENV": "production", "DJANGO_SECRET_KEY": secret,
                          "DJANGO_ALLOWED_HOSTS": "pos.example"}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_plain_migrate_warns_about_module_databases_left_behind(tmp_path):
    result = _manage("migrate", env={}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Module databases still behind" in result.stderr
    assert "migrate_all" in result.stderr
    done = _manage("migrate_all", env={}, tmp_path=tmp_path)
    assert "Done:" in done.stdout
    assert "[5/5] restaurant" in done.stdout
    again = _manage("migrate", env={}, tmp_path=tmp_path)
    assert "still behind" not in again.stderr


@pytest.mark.django_db(databases="__all__")
def test_seed_demo_is_idempotent_and_prints_secrets_once(client):
    first = io.StringIO()
    call_command("seed_demo", stdout=first)
    text = first.getvalue()
    assert "password" in text and "token" in text
    token = text.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    password = text.split("password '", 1)[1].split("'", 1)[0]
    second = io.StringIO()
    call_command("seed_demo", stdout=second)
    assert "already exists" in second.getvalue()
    assert password not in second.getvalue() and token not in second.getvalue()
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert me.status_code == 200
    assert me.json()["tenant"]["slug"] == "demo"
    assert client.login(username="manager", password=password)
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db(databases="__all__")
def test_create_terminal_prints_a_working_token_last(client, tenant):
    out = io.StringIO()
    call_command("create_terminal", "--tenant", tenant.slug, "--name", "Bar tablet", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.json()["terminal"]["name"] == "Bar tablet"
    with pytest.raises(CommandError, match="already has a terminal named"):
        call_command("create_terminal", "--tenant", tenant.slug, "--name", "Bar tablet", stdout=io.StringIO())
    with pytest.raises(CommandError, match="No tenant with slug"):
        call_command("create_terminal", "--tenant", "nope", "--name", "X", stdout=io.StringIO())


def test_create_terminal_from_the_shell_exits_non_zero_on_bad_input(tmp_path):
    _manage("migrate_all", env={}, tmp_path=tmp_path)
    result = _manage("create_terminal", "--tenant", "nope", "--name", "X", env={}, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "No tenant with slug 'nope'" in result.stderr


@pytest.mark.django_db(databases="__all__")
def test_seed_demo_prints_the_login_link_of_the_port_it_will_serve_on():
    out = io.StringIO()
    call_command("seed_demo", "--base-url", "http://127.0.0.1:8123/", stdout=out)
    assert "at http://127.0.0.1:8123/admin/" in out.getvalue()
