"""The inventory suite against MongoDB (django-mongodb-backend), when a server is available.

Set MONGODB_URI (e.g. mongodb://127.0.0.1:27017/?replicaSet=rs0) and install requirements-mongodb.txt. The
suite then runs again in a child process with the inventory alias on MongoDB. Without MONGODB_URI the test
is skipped and says so: MongoDB was not verified in that run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
NOT_RUN = "MONGODB_URI not set: MongoDB inventory tests did not run"

pytestmark = pytest.mark.mongodb


@pytest.mark.skipif(not os.environ.get("MONGODB_URI"), reason=NOT_RUN)
@pytest.mark.skipif(os.environ.get("INVENTORY_ON_MONGODB") == "1", reason="already running on MongoDB")
def test_inventory_suite_passes_on_mongodb(tmp_path):
    pytest.importorskip("django_mongodb_backend", reason="pip install -r requirements-mongodb.txt")
    env = {
        **os.environ,
        "INVENTORY_ON_MONGODB": "1",
        "DATABASE_URL_INVENTORY": os.environ["MONGODB_URI"],
        "MONGODB_NAME_INVENTORY": os.environ.get("MONGODB_NAME_INVENTORY", "pos_inventory_ci"),
        "POS_VAR_DIR": str(tmp_path),
    }
    check = subprocess.run([sys.executable, "manage.py", "check", "--database", "inventory"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    # Row-level concurrency tests are PostgreSQL's (marked postgres); everything else must pass on MongoDB.
    run = subprocess.run([sys.executable, "-m", "pytest", "modules/inventory", "-q", "-p", "no:cacheprovider",
                          "-m", "not postgres and not mongodb"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
