"""`pos.db.hot`: the hot paths' reads and updates written as text. They must answer exactly what the ORM answers
(the same rows, the same values as model instances), be scoped to the tenant as the tenant-scoped manager scopes
them, and on PostgreSQL keep one statement text per shape whatever the number of values."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from conftest import make_tenant
from conftest import statements_sent as statements
from modules.accounts.models import Tenant
from modules.inventory.models import Product, StockItem
from pos.db.hot import rows_where, rows_where_together, update_where
from pos.tenancy import TenantScopeMissing, all_tenants, tenant_context

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

DB = "inventory"


def product(tenant_id, pid: str, **fields) -> Product:
    with tenant_context(tenant_id):
        return Product.objects.using(DB).create(
            id=pid, names={"en": pid.title(), "my": "မုန့်"}, price_amount=fields.pop("price", 1500),
            price_currency="MMK", variants=[{"key": "large", "names": {"en": "Large"}, "price": 2000}], **fields)


def stock(tenant_id, pid: str, on_hand: int = 10, variant: str = "") -> StockItem:
    with tenant_context(tenant_id):
        return StockItem.objects.using(DB).create(product_id=pid, variant=variant, on_hand=on_hand)


def test_rows_are_the_ones_the_orm_answers_with_the_same_values():
    tenant = make_tenant()
    product(tenant.id, "tea", category_id=None, price=1200)
    product(tenant.id, "mohinga", category_id="soups", attributes={"spicy": True})
    with tenant_context(tenant.id):
        found = {p.id: p for p in rows_where(Product, using=DB, id__in=["tea", "mohinga", "missing"])}
        expected = {p.id: p for p in Product.objects.using(DB).filter(id__in=["tea", "mohinga", "missing"])}
    assert set(found) == {"tea", "mohinga"}
    for pid, row in found.items():
        for field in Product._meta.concrete_fields:
            assert getattr(row, field.attname) == getattr(expected[pid], field.attname), field.name
        assert row._state.db == DB and not row._state.adding
    assert found["mohinga"].names["my"] == "မုန့်" and found["mohinga"].attributes == {"spicy": True}
    assert found["tea"].updated_at.tzinfo is not None
    (row,) = rows_where(Tenant, pk=tenant.id)
    assert (row.id, row.slug, row.tax_rate, row.locales) == (tenant.id, tenant.slug, tenant.tax_rate,
                                                             list(tenant.locales))


def test_rows_are_scoped_to_the_tenant_in_scope_and_fail_closed_without_one():
    mine, theirs = make_tenant(), make_tenant()
    product(mine.id, "tea")
    product(theirs.id, "coffee")
    with tenant_context(mine.id):
        assert [p.id for p in rows_where(Product, using=DB, id__in=["tea", "coffee"])] == ["tea"]
        assert rows_where(Product, using=DB, id="coffee") == []
    with all_tenants():
        assert sorted(p.id for p in rows_where(Product, using=DB, id__in=["tea", "coffee"])) == ["coffee", "tea"]
    with pytest.raises(TenantScopeMissing):
        rows_where(Product, using=DB, id="tea")
    with pytest.raises(TenantScopeMissing):
        update_where(Product, using=DB, where={"id": "tea"}, values={"position": 3})


def test_no_values_is_no_rows_and_a_value_the_field_cannot_take_is_a_value_error():
    tenant = make_tenant()
    with tenant_context(tenant.id), statements(DB) as sent:
        assert rows_where(StockItem, using=DB, product_id__in=[]) == []
    assert sent == []
    with pytest.raises(ValueError):
        rows_where(Tenant, pk="not-a-uuid")
    assert rows_where(Tenant, pk=uuid.uuid4()) == []


def test_one_statement_text_per_shape_whatever_the_number_of_values():
    if connections[DB].vendor != "postgresql":
        pytest.skip("the text is PostgreSQL's (= ANY of one array); elsewhere the manager's own query runs")
    tenant = make_tenant()
    for pid in ("a", "b", "c"):
        stock(tenant.id, pid)
    with tenant_context(tenant.id), statements(DB) as sent:
        assert len(rows_where(StockItem, using=DB, product_id__in=["a"])) == 1
        assert len(rows_where(StockItem, using=DB, product_id__in=["a", "b", "c"])) == 3
    assert len(sent) == 2 and sent[0] == sent[1] and "= ANY(%s)" in sent[0] and '"tenant_id" = %s' in sent[0]
    with transaction.atomic(using=DB), tenant_context(tenant.id), statements(DB) as sent:
        rows_where(StockItem, using=DB, lock=True, product_id="a")
    assert sent[-1].endswith("FOR UPDATE")


def test_an_update_adds_columns_and_numbers_and_answers_the_row_as_updated():
    tenant = make_tenant()
    item = stock(tenant.id, "tea", on_hand=10)
    later = timezone.now() + timedelta(minutes=1)
    with tenant_context(tenant.id):
        row = update_where(StockItem, using=DB, where={"pk": item.pk}, returning=True, values={
            "on_hand": F("on_hand") - 3, "reserved": F("on_hand") + F("reserved") - 8, "updated_at": later})
        assert (row.on_hand, row.reserved, row.updated_at) == (7, 2, later)
        again = StockItem.objects.using(DB).get(pk=item.pk)
        assert (again.on_hand, again.reserved, again.updated_at) == (7, 2, later)
        # no row matched: None, nothing written
        assert update_where(StockItem, using=DB, where={"pk": item.pk, "on_hand": 999}, returning=True,
                            values={"on_hand": 0}) is None
        assert StockItem.objects.using(DB).get(pk=item.pk).on_hand == 7
        # the condition may be what the update changes: the row is answered as updated all the same
        row = update_where(StockItem, using=DB, where={"pk": item.pk, "on_hand": 7}, returning=True,
                           values={"on_hand": 6})
        assert (row.pk, row.on_hand) == (item.pk, 6)
        with pytest.raises(ValueError):  # columns, sums and differences only, on every database
            update_where(StockItem, using=DB, where={"pk": item.pk}, values={"on_hand": F("on_hand") * 2})
        with pytest.raises(ValueError):  # never every row of the table
            update_where(StockItem, using=DB, where={}, values={"on_hand": 0})
        assert StockItem.objects.using(DB).get(pk=item.pk).on_hand == 6


def test_an_update_is_scoped_to_the_tenant_and_where_not_treats_null_as_different():
    mine, theirs = make_tenant(), make_tenant()
    product(mine.id, "tea", category_id=None)
    product(mine.id, "soup", category_id="soups")
    product(mine.id, "salad", category_id="salads")
    product(theirs.id, "coffee", category_id=None)
    with tenant_context(mine.id):
        # as `.exclude(category_id="soups")`: NULL is not "soups", so the tea is updated too
        assert update_where(Product, using=DB, where={"is_active": True}, where_not={"category_id": "soups"},
                            values={"position": F("position") + 5}) == 2
        assert dict(Product.objects.using(DB).values_list("id", "position")) == {"tea": 5, "soup": 0, "salad": 5}
        assert update_where(Product, using=DB, where={"id": "coffee"}, values={"position": 9}) == 0
    with all_tenants():
        assert Product.objects.using(DB).get(id="coffee").position == 0


def test_an_insert_statement_leaves_an_automatic_key_to_the_database_and_answers_it():
    from pos.db.hot import insert_statement
    from pos.models import IdempotencyRecord

    tenant = make_tenant()
    now = timezone.now()
    record = IdempotencyRecord(tenant_id=tenant.id, key="k-1", method="POST", path="/api/v1/orders",
                               fingerprint="f" * 64, expires_at=now + timedelta(days=1), locked_until=now,
                               lock_token=uuid.uuid4(), holder="test")
    statement = insert_statement(record, using="default")
    if connections["default"].vendor != "postgresql":
        assert statement is None  # elsewhere the caller saves it the ORM's way
        return
    sql, params = statement
    assert sql.endswith('RETURNING "id"') and '("id"' not in sql and ', "id"' not in sql
    with connections["default"].cursor() as cursor:
        cursor.execute(sql, params)
        (pk,) = cursor.fetchone()
    stored = IdempotencyRecord.objects.using("default").get(pk=pk)
    assert (stored.key, stored.tenant_id, stored.state, stored.lock_token) == ("k-1", tenant.id, "in_progress",
                                                                               record.lock_token)
    assert stored.created_at is not None  # stamped as save() stamps it


def test_reads_sent_together_answer_what_each_read_answers_alone_in_one_round_trip():
    tenant, other = make_tenant(), make_tenant()
    product(tenant.id, "tea")
    product(tenant.id, "mohinga")
    stock(tenant.id, "tea", 7)
    stock(tenant.id, "mohinga", 3, variant="large")
    product(other.id, "other-tea")
    stock(other.id, "other-tea", 99)
    with tenant_context(tenant.id):
        alone = (rows_where(Product, using=DB, id__in=["tea", "mohinga", "missing", "other-tea"]),
                 rows_where(StockItem, using=DB, product_id__in=["tea", "mohinga", "other-tea"]))
        with statements(DB) as sent:
            together = rows_where_together(DB, (Product, {"id__in": ["tea", "mohinga", "missing", "other-tea"]}),
                                           (StockItem, {"product_id__in": ["tea", "mohinga", "other-tea"]}),
                                           (StockItem, {"product_id__in": []}))
    # one round trip on PostgreSQL whatever the number of reads (elsewhere one each); the empty one sends nothing
    assert len(sent) == (1 if connections[DB].vendor == "postgresql" else 2)
    assert together[2] == []
    for mine, theirs in zip(together[:2], alone, strict=True):
        assert sorted(((row.pk, row.tenant_id) for row in mine), key=str) == sorted(
            ((row.pk, row.tenant_id) for row in theirs), key=str)
    levels = {(s.product_id, s.variant): s.on_hand for s in together[1]}
    assert levels == {("tea", ""): 7, ("mohinga", "large"): 3}  # the other tenant's rows are not among them
    assert {p.id for p in together[0]} == {"tea", "mohinga"}
    names = {p.id: p.names for p in together[0]}
    assert names["tea"]["my"] == "မုန့်"
    with pytest.raises(TenantScopeMissing):
        rows_where_together(DB, (Product, {"id__in": ["tea"]}))
    with tenant_context(tenant.id), statements(DB) as sent:
        assert rows_where_together(DB, (Product, {"id__in": []})) == [[]]
    assert sent == []
