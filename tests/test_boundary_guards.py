"""Every boundary guard is proven to catch a planted violation, so none can silently stop working."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks
from django.db import models
from django.test.utils import isolate_apps

from pos.checks import check_module_relations, check_task_names, relation_errors, task_name_errors

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _copy_tree(tmp_path: Path) -> Path:
    target = tmp_path / "repo"
    target.mkdir()
    for name in ("pos", "modules", "ops", "config"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    # Files planted as `planted.py` test the other contracts; the exhaustive layering lets that one name pass
    # (test_a_file_outside_every_layer_is_caught plants under another name).
    config = (ROOT / ".importlinter").read_text()
    assert "exhaustive = True\n" in config
    (target / ".importlinter").write_text(config.replace("exhaustive = True\n",
                                                         "exhaustive = True\nexhaustive_ignores = planted\n"))
    return target


def _lint(repo: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=repo, capture_output=True, text=True, timeout=120,
                          env={"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(repo), "COLUMNS": "200"})


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return _copy_tree(tmp_path_factory.mktemp("lint"))


def _planted(pristine: Path, tmp_path: Path, files: dict[str, str]) -> subprocess.CompletedProcess:
    repo = tmp_path / "planted"
    shutil.copytree(pristine, repo)
    for relative, text in files.items():
        path = repo / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((path.read_text() if path.exists() else "") + "\n" + text + "\n")
    return _lint(repo)


def test_the_real_tree_keeps_every_contract(pristine):
    result = _lint(pristine)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_importing_another_modules_models_is_caught(pristine, tmp_path):
    result = _planted(pristine, tmp_path, {"modules/payment/planted.py": "from modules.accounts import models"})
    assert result.returncode != 0
    assert "Only a module's api.py is reachable from other modules (internals are private) BROKEN" in result.stdout
    assert "modules.payment.planted -> modules.accounts.models" in result.stdout


def test_an_internal_that_no_list_names_is_private(pristine, tmp_path):
    """The saga, a payment gateway or inventory's demo data are private without being listed anywhere."""
    result = _planted(pristine, tmp_path, {"modules/restaurant/planted.py": "from modules.pos_core import saga\n"
                                                                            "from modules.payment.gateways import cash\n"
                                                                            "import modules.inventory.demo"})
    assert result.returncode != 0
    assert "modules.restaurant.planted -> modules.pos_core.saga" in result.stdout
    assert "modules.restaurant.planted -> modules.payment.gateways.cash" in result.stdout
    assert "modules.restaurant.planted -> modules.inventory.demo" in result.stdout


def test_a_brand_new_file_of_a_module_is_private(pristine, tmp_path):
    """A file a module adds later is private from the start: only api.py is a door."""
    result = _planted(pristine, tmp_path, {
        "modules/inventory/barcodes.py": "CODES = {}",
        "modules/inventory/labels/__init__.py": "",
        "modules/inventory/labels/printing.py": "WIDTH = 58",
        "modules/pos_core/planted.py": "from modules.inventory.barcodes import CODES\n"
                                       "from modules.inventory.labels import printing",
        "ops/planted.py": "import modules.inventory.barcodes",
    })
    assert result.returncode != 0
    assert "inventory: Only a module's api.py is reachable from other modules (internals are private) BROKEN" \
        in result.stdout
    for link in ("modules.pos_core.planted -> modules.inventory.barcodes",
                 "modules.pos_core.planted -> modules.inventory.labels.printing",
                 "ops.planted -> modules.inventory.barcodes"):
        assert link in result.stdout


def test_every_module_has_its_allow_list_contract():
    """A new package under modules/ is private only once it has its contract: none may be forgotten."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    protected = {config[section]["protected_modules"].strip() for section in config.sections()
                 if config[section].get("type") == "protected"}
    packages = {f"modules.{path.parent.name}" for path in (ROOT / "modules").glob("*/__init__.py")}
    assert packages == protected


def test_going_through_api_is_legal(pristine, tmp_path):
    result = _planted(pristine, tmp_path, {"modules/payment/planted.py": "from modules.accounts import api"})
    assert result.returncode == 0, result.stdout


def test_kernel_importing_a_module_is_caught(pristine, tmp_path):
    result = _planted(pristine, tmp_path, {"pos/contracts/planted.py": "import modules.accounts.api"})
    assert result.returncode != 0
    assert "never imports a module BROKEN" in result.stdout


def test_a_cycle_between_modules_is_caught(pristine, tmp_path):
    result = _planted(pristine, tmp_path, {
        "modules/accounts/planted.py": "from modules.restaurant import api",
        "modules/restaurant/planted.py": "from modules.accounts import api",
    })
    assert result.returncode != 0
    assert "The module graph is acyclic BROKEN" in result.stdout


def test_a_layer_pointing_upwards_is_caught(pristine, tmp_path):
    result = _planted(pristine, tmp_path, {"modules/accounts/models.py": "from modules.accounts import services  # noqa"})
    assert result.returncode != 0
    assert "Inside each module, dependencies point one way BROKEN" in result.stdout


def test_an_interface_calling_its_own_modules_api_is_caught(pristine, tmp_path):
    """api.py is the door for other modules; the module's own views, admin, handlers and tasks call its services
    and selectors."""
    result = _planted(pristine, tmp_path, {"modules/payment/http/views.py": "from modules.payment import api  # noqa"})
    assert result.returncode != 0
    assert "modules.payment.http is not allowed to import modules.payment.api" in result.stdout


def test_a_file_outside_every_layer_is_caught(pristine, tmp_path):
    """Every file of a module sits in a layer: a new one must be placed before the build passes."""
    result = _planted(pristine, tmp_path, {"modules/payment/loyalty.py": "POINTS_PER_KYAT = 1"})
    assert result.returncode != 0
    assert "Inside each module, dependencies point one way BROKEN" in result.stdout
    assert "- modules.payment.loyalty" in result.stdout


@isolate_apps("modules.inventory", "modules.accounts")
def test_relation_checks_catch_foreign_keys_across_modules():
    from modules.accounts.models import Tenant

    class PlantedByClass(models.Model):
        tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)

        class Meta:
            app_label = "inventory"

    class PlantedByString(models.Model):
        order = models.OneToOneField("pos_core.Order", on_delete=models.CASCADE)

        class Meta:
            app_label = "inventory"

    class PlantedManyToMany(models.Model):
        tenants = models.ManyToManyField("accounts.Tenant")

        class Meta:
            app_label = "inventory"

    class SameModule(models.Model):
        parent = models.ForeignKey("inventory.SameModule", null=True, on_delete=models.CASCADE)

        class Meta:
            app_label = "inventory"

    errors = relation_errors([PlantedByClass, PlantedByString, PlantedManyToMany, SameModule])
    flagged = sorted(error.msg.split(" ")[0] for error in errors)
    assert flagged == ["inventory.PlantedByClass.tenant", "inventory.PlantedByString.order",
                       "inventory.PlantedManyToMany.tenants"]
    assert all(error.id == "pos.E001" and error.level == checks.ERROR for error in errors)


def test_the_real_models_have_no_cross_module_relation():
    assert check_module_relations() == []


def test_task_name_check_catches_a_task_outside_its_namespace():
    from celery import current_app

    def place_order() -> None:
        return None

    place_order.__module__ = "modules.pos_core.tasks"
    task = current_app.task(name="orders.place")(place_order)
    try:
        errors = check_task_names()
        assert [e.id for e in errors if "orders.place" in e.msg] == ["pos.E002"]
    finally:
        current_app.tasks.unregister(task.name)
    assert check_task_names() == []


def test_task_name_rule_accepts_the_modules_own_namespace():
    class Task:
        __module__ = "modules.inventory.tasks"

    assert task_name_errors({"inventory.expire_reservations": Task()}) == []
    assert [e.id for e in task_name_errors({"pos_core.expire": Task()})] == ["pos.E002"]


def test_django_check_fails_the_build_on_a_planted_relation(tmp_path):
    """The system check runs as part of `manage.py check`, so a planted relation stops the build."""
    script = tmp_path / "planted_check.py"
    script.write_text(
        "import django, os, sys\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'\n"
        "django.setup()\n"
        "from django.db import models\n"
        "class Planted(models.Model):\n"
        "    tenant = models.ForeignKey('accounts.Tenant', on_delete=models.CASCADE)\n"
        "    class Meta:\n"
        "        app_label = 'payment'\n"
        "from django.core.management import call_command\n"
        "call_command('check')\n"
    )
    result = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(ROOT),
                                 "POS_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "pos.E001" in result.stderr
    assert "payment.Planted.tenant" in result.stderr
