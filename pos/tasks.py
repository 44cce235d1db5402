from celery import shared_task

from pos.api.idempotency import purge_expired


@shared_task(name="pos.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    return purge_expired()
