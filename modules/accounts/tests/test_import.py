"""Restaurants and staff imported from another system: idempotent by slug and username, validated, one batch."""

from __future__ import annotations

import pytest

from modules.accounts import api as accounts
from modules.accounts.models import User

pytestmark = pytest.mark.django_db(databases="__all__")


def test_a_restaurant_is_imported_once_by_slug():
    tenant, created = accounts.import_tenant(slug="legacy-1", name="Yangon Noodle House", currency="THB",
                                             locales=["en"], timezone_name="Asia/Bangkok")
    assert created and (tenant.currency, tenant.currency_exponent, tenant.timezone) == ("THB", 2, "Asia/Bangkok")
    again, created = accounts.import_tenant(slug="legacy-1", name="Other", currency="MMK", locales=["en", "my"],
                                            timezone_name="Asia/Yangon")
    assert not created and again == tenant


@pytest.mark.parametrize("change, field", [
    ({"currency": "XYZ"}, "currency"), ({"timezone_name": "Mars/Olympus"}, "timezone"),
    ({"slug": "no spaces"}, "slug"), ({"locales": []}, "locales"), ({"name": " "}, "name"),
])
def test_a_bad_restaurant_is_refused(change, field):
    fields = {"slug": "legacy-2", "name": "Tea", "currency": "MMK", "locales": ["en"], "timezone_name": "Asia/Yangon"}
    with pytest.raises(accounts.InvalidImport) as caught:
        accounts.import_tenant(**{**fields, **change})
    assert [e["field"] for e in caught.value.extra["errors"]] == [field]
    with pytest.raises(accounts.TenantNotFound):
        accounts.get_tenant_by_slug("legacy-2")


def test_staff_are_imported_once_with_unusable_passwords_and_taken_names_reported(tenant, other_tenant):
    accounts.import_staff(tenant_id=other_tenant.id, staff=[{"username": "aung", "role": "cashier"}])
    result = accounts.import_staff(tenant_id=tenant.id, staff=[
        {"username": "mya", "role": "manager", "email": "mya@example.com", "first_name": "Mya"},
        {"username": "aung", "role": "waiter"}])
    assert (result.created, result.existing, result.taken) == (("mya",), (), ("aung",))
    mya = User.objects.get(username="mya")
    assert (mya.tenant_id, mya.role, mya.is_staff, mya.has_usable_password()) == (tenant.id, "manager", True, False)
    again = accounts.import_staff(tenant_id=tenant.id, staff=[{"username": "mya", "role": "cashier"}])
    assert again.existing == ("mya",) and User.objects.get(username="mya").role == "manager"
    assert accounts.get_username_owners(usernames=["mya", "aung", "nobody"]) == {"mya": tenant.id,
                                                                                "aung": other_tenant.id}
    with pytest.raises(accounts.InvalidImport) as caught:
        accounts.import_staff(tenant_id=tenant.id, staff=[{"username": "bad name!", "role": "chef"},
                                                          {"username": "x", "role": "waiter"},
                                                          {"username": "X", "role": "waiter"}])
    assert {e["field"] for e in caught.value.extra["errors"]} == {"staff[0].username", "staff[0].role",
                                                                  "staff[2].username"}
    assert not User.objects.filter(username="x").exists()
