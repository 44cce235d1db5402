"""Stock changes from inventory applied concurrently and out of order: the newest sequence wins in the durable
level and in the cache, each sequence is applied at most once, and low-stock alerts stay one per item."""

from __future__ import annotations

import random
import threading

import pytest
from django.db import connections

from modules.pos_core import services, stock_cache
from modules.pos_core.models import AlertStatus, LowStockAlert, StockLevel
from pos.tenancy import all_tenants

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True), pytest.mark.postgres,
              pytest.mark.usefixtures("postgres_only")]



def test_concurrent_out_of_order_applies_end_at_the_newest_and_apply_each_once(tenant):
    from django.core.cache import cache

    cache.delete(stock_cache.key(tenant.id, "hot", None))
    sequences = list(range(1, 61)) * 2  # every event twice (a redelivery racing the first)
    random.Random(17).shuffle(sequences)
    applied: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(index: int) -> None:
        barrier.wait()
        try:
            for sequence in sequences[index::8]:
                # level == sequence: the newest sequence carries the highest level, below the threshold at first
                if services.stock_level_apply(tenant_id=tenant.id, product_id="hot", variant=None, level=sequence,
                                              threshold=5, sequence=sequence):
                    with lock:
                        applied.append(sequence)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(applied) == len(set(applied))  # no sequence applied twice
    assert 60 in applied
    with all_tenants():
        row = StockLevel.objects.get(tenant_id=tenant.id, product_id="hot")
        alerts = list(LowStockAlert.objects.filter(tenant_id=tenant.id, product_id="hot"))
    assert (row.sequence, row.level) == (60, 60)
    assert stock_cache.get_many(tenant.id, [("hot", None)])[("hot", None)]["sequence"] == 60
    assert len([a for a in alerts if a.status == AlertStatus.OPEN]) == 0  # the last level (60) is above 5


def test_a_threshold_raised_above_the_level_is_judged_with_the_new_threshold(tenant):
    apply = services.stock_level_apply
    assert apply(tenant_id=tenant.id, product_id="p", variant="large", level=10, threshold=3, sequence=1)
    assert apply(tenant_id=tenant.id, product_id="p", variant="large", level=2, threshold=3, sequence=2)
    assert not apply(tenant_id=tenant.id, product_id="p", variant="large", level=9, threshold=3, sequence=2)
    assert apply(tenant_id=tenant.id, product_id="p", variant="large", level=9, threshold=3, sequence=3)
    with all_tenants():
        alerts = list(LowStockAlert.objects.filter(tenant_id=tenant.id, product_id="p").order_by("opened_at"))
    assert [(a.status, a.resolution) for a in alerts] == [(AlertStatus.CLOSED, "restocked")]
