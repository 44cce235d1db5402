"""A manager who has never seen the back office runs the shop in a real browser (Debian's Chromium driven by
Playwright) against a real server process: the home page, a new product with variants and options, stock received,
the product put on a menu, part of an order refunded, the sales report. Screenshots are kept under
var/artifacts/browser/ (BROWSER_ARTIFACTS to put them elsewhere).

The server is `manage.py serve` in embedded mode on databases of its own, so the test sees only what a browser sees
and the server runs exactly as `make run` starts it."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", ROOT / "var" / "artifacts" / "browser"))
SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL")

from playwright import sync_api as playwright  # noqa: E402 - after the paths it needs

if not Path(CHROMIUM).exists():  # .ci/run installs Debian's chromium; a developer machine may not have it
    pytest.fail(f"No Chromium at {CHROMIUM}: `apt-get install chromium` (or set CHROMIUM_PATH).", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The back office and the terminal API as `make run` serves them, on databases of its own."""

    def __init__(self, var_dir: Path):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(SERVICE_VARIABLES)}
        self.env.update(POS_VAR_DIR=str(var_dir), POS_ENV="development", PYTHONUNBUFFERED="1")
        self.process: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self) -> None:
        self.log = open(ARTIFACTS / "server.log", "w")
        self.process = subprocess.Popen([sys.executable, "manage.py", "serve", f"127.0.0.1:{self.port}", "--noreload"],
                                        cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1)  # noqa: S310 - our own server
                return
            except OSError:
                assert self.process.poll() is None, (ARTIFACTS / "server.log").read_text()
                time.sleep(0.2)
        raise AssertionError("The server did not answer /healthz within 60 s.")

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.log.close()

    def api(self, method: str, path: str, token: str, body: dict | None = None, key: str | None = None) -> dict:
        request = urllib.request.Request(self.base + "/api/v1/" + path, method=method,  # noqa: S310
                                         data=json.dumps(body).encode() if body is not None else None)
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Content-Type", "application/json")
        if key:
            request.add_header("Idempotency-Key", key)
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    server = Server(tmp_path_factory.mktemp("backoffice"))
    server.manage("migrate_all")
    seeded = server.manage("seed_demo", "--base-url", server.base)
    server.password = re.search(r"password '([^']+)' at " + re.escape(server.base) + "/admin/", seeded)[1]
    server.token = seeded.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def page(server):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, base_url=server.base)
        page.set_default_timeout(15_000)
        yield page
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def messages(page) -> str:
    page.wait_for_selector("ul.messagelist li")
    return " ".join(page.locator("ul.messagelist li").all_inner_texts())


@pytest.fixture
def last_screen(page):
    """Whatever the test ends on, pass or fail, is kept as the last screenshot."""
    yield
    shot(page, "99-last")


def test_a_manager_runs_the_shop_from_the_back_office(server, page, last_screen):
    order = server.api("POST", "orders", server.token, key="walkthrough-order-1", body={
        "items": [{"product_id": _demo_product(server, "Mohinga"), "variant": "small", "quantity": 2}],
        "payment": {"method": "cash", "tendered": 10_000}})

    # 1. sign in with the printed password and land on today's business
    page.goto("/")
    page.fill("#id_username", "manager")
    page.fill("#id_password", server.password)
    page.click("input[type=submit]")
    page.wait_for_selector("#today-sales")
    assert page.inner_text("#today-orders") == "1"
    assert page.inner_text("#today-gross") == f"{order['totals']['grand_total']['amount']:,} MMK"
    assert "Event deliveries" not in page.content() and "Provider behaviours" not in page.content()
    shot(page, "01-home")

    # 2. a new product with two variants and an option group, without typing JSON
    page.get_by_role("link", name="Products", exact=True).first.click()
    page.click(".object-tools a.addlink")
    page.fill("#id_product_id", "kyay-oh")
    page.fill("#id_name_en", "Kyay oh")
    page.fill("#id_name_my", "ကြေးအိုး")
    page.fill("#id_price", "3000")
    for row, (key, en, my, price) in enumerate([("small", "Small", "အသေး", "3000"), ("large", "Large", "အကြီး", "4000")]):
        page.fill(f"#id_variant_{row}_key", key)
        page.fill(f"#id_variant_{row}_name_en", en)
        page.fill(f"#id_variant_{row}_name_my", my)
        page.fill(f"#id_variant_{row}_price", price)
    page.fill("#id_optgroup_0_0", "extras")
    page.fill("#id_optgroup_0_1", "Extras")
    page.fill("#id_optgroup_0_2", "အပို")
    page.fill("#id_optgroup_0_3", "0")
    page.fill("#id_optgroup_0_4", "1")
    page.fill("#id_optgroup_0_choice_0_0", "egg")
    page.fill("#id_optgroup_0_choice_0_1", "Egg")
    page.fill("#id_optgroup_0_choice_0_2", "ဥ")
    page.fill("#id_optgroup_0_choice_0_3", "500")
    page.select_option("#id_attr_halal", "yes")
    shot(page, "02-product-form")
    page.click("input[name=_save]")
    assert "Kyay oh" in messages(page) and "Not saved" not in messages(page)
    shot(page, "03-product-added")
    catalog = server.api("GET", "catalog/products/kyay-oh", server.token)
    assert [v["key"] for v in catalog["variants"]] == ["small", "large"]
    assert catalog["option_groups"][0]["choices"][0]["price_delta"]["amount"] == 500

    # 3. receive stock for the large bowls, from the product's stock
    page.fill("#searchbar", "Kyay")
    page.press("#searchbar", "Enter")
    page.check("input[name=_selected_action]")
    page.select_option("select[name=action]", "adjust_stock_of_products")
    page.click("button[name=index]")
    page.wait_for_url(re.compile(r"stockitem"))
    page.check("tr:has-text('large') input[name=_selected_action]")
    page.select_option("select[name=action]", "adjust_stock")
    page.click("button[name=index]")
    page.select_option("select[name=kind]", "receive")
    page.fill("input[name=quantity]", "20")
    page.fill("input[name=reason]", "Morning delivery")
    shot(page, "04-receive-stock")
    page.click("input[type=submit]")
    assert "Kyay oh" in messages(page)
    levels = server.api("GET", "stock-levels?items=kyay-oh:large", server.token)
    assert levels[0]["level"] == 20

    # 4. put it on the All day menu
    page.goto("/admin/restaurant/menusection/")
    page.click("#result_list tbody tr:has-text('All day') a >> nth=0")
    page.wait_for_load_state("load")  # the whole form, or the last row found may be an existing item's
    product_input = page.locator("#items-group tr.form-row:not(.has_original):not(.empty-form) "
                                 "input[data-product-search]").first
    product_input.fill("Kyay")  # a name, as a manager knows the dish
    suggestion = "os => os.map(o => o.value).find(v => v.includes('Kyay oh'))"
    page.wait_for_function(f"() => ({suggestion})([...document.querySelectorAll('datalist option')])")
    product_input.fill(page.eval_on_selector_all("datalist option", suggestion))  # the manager picks the name
    page.click("input[name=_continue]")
    assert "Not saved" not in messages(page) and "error" not in (page.locator(".errornote").all_inner_texts() or [""])[0]
    assert page.locator("td.field-product_name", has_text="Kyay oh").count() == 1
    shot(page, "05-on-the-menu")

    # 5. refund one of the two bowls of the morning's order from the order page
    page.goto(f"/admin/pos_core/order/{order['id']}/change/")
    shot(page, "06-order")
    page.click("#refund-link")
    page.fill(f"input[name=quantity_{order['items'][0]['id']}]", "1")
    page.fill("input[name=reason]", "Cold soup")
    page.click("input[type=submit]")
    page.wait_for_selector("#refund-confirm")
    shot(page, "07-refund-confirm")
    page.click("input[name=confirm]")
    assert "Refunded" in messages(page)
    after = server.api("GET", f"orders/{order['id']}", server.token)
    assert after["totals"]["refunded"]["amount"] == order["items"][0]["unit_price"]["amount"]
    assert after["status"] == "partially_refunded"

    # 6. the sales report, from the menu
    page.goto("/admin/")
    page.click("#reports-module a >> nth=0")
    page.wait_for_selector("svg")
    shot(page, "08-sales-report")
    assert "Refunds" in page.content()


def _demo_product(server, name: str) -> str:
    products = server.api("GET", f"catalog/products?q={name}", server.token)["results"]
    return next(p["id"] for p in products if p["names"]["en"] == name)
