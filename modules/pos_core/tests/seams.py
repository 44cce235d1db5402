"""The tests' own seams into the order saga: they wrap the module apis the saga calls (and pos_core's saga
persistence) from the outside, so production code carries no test hooks.

    seam.before("reserve", fail)       runs fail("reserve") before inventory.sell_stock is called
    seam.after("charge", crash)        runs crash("charge") after payment.charge answered, before the saga saved it
    seam.saved("reserve", crash)       runs crash("reserve") once the saga saved the outcome of "reserve"

An outcome the saga does not write on its own (`services.saga_note`: the charge and the commit, held by payment
and inventory under the saga's keys and written with the order) counts as saved once noted: the saved row is then
as it will be until the next write, which is exactly the state a crash there leaves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from modules.inventory import api as inventory
from modules.payment import api as payment
from modules.pos_core import services

# the saga's actions and compensations, and where they live
CALLS: dict[str, tuple[object, str]] = {
    "reserve": (inventory, "sell_stock"),
    "charge": (payment, "charge"),
    "commit": (inventory, "commit_reservation"),
    "record": (services, "order_record"),
    "find_payment": (payment, "find_payment"),
    "refund": (payment, "refund"),
    "find_refund": (payment, "find_refund"),
    "find_reservation": (inventory, "find_reservation"),
    "cancel_reservation": (inventory, "cancel_reservation"),
}


class Crash(BaseException):
    """The process died here: nothing after it runs (not even the saga's error handling)."""


class Seam:
    def __init__(self, monkeypatch) -> None:
        self.monkeypatch = monkeypatch

    def _wrap(self, name: str, before: Callable | None, after: Callable | None) -> None:
        target, attribute = CALLS[name]
        real = getattr(target, attribute)

        @functools.wraps(real)
        def wrapped(*args, **kwargs):
            if before is not None:
                before(name)
            result = real(*args, **kwargs)
            if after is not None:
                after(name)
            return result

        self.monkeypatch.setattr(target, attribute, wrapped)

    def before(self, name: str, effect: Callable[[str], None]) -> None:
        self._wrap(name, effect, None)

    def after(self, name: str, effect: Callable[[str], None]) -> None:
        self._wrap(name, None, effect)

    def saved(self, action: str, effect: Callable[[str], None]) -> None:
        wanted = action
        for name in ("saga_save", "saga_note"):
            real = getattr(services, name)

            def wrapped(*, saga, action: str, _real=real, **kwargs):
                _real(saga=saga, action=action, **kwargs)
                if action == wanted:
                    effect(action)

            functools.update_wrapper(wrapped, real)
            self.monkeypatch.setattr(services, name, wrapped)

    def holds_stock(self) -> None:
        """The saga's stock is held by `reserve_stock` and committed after the charge, as for a saga started
        before the saga took it as sold at once (`sell_stock`): the commit step then still has its work."""
        self.monkeypatch.setattr(inventory, "sell_stock", inventory.reserve_stock)

    def clear(self) -> None:
        self.monkeypatch.undo()


def once(effect: Callable[[str], None]) -> Callable[[str], None]:
    """Run `effect` the first time only (a fault that strikes once, as a real one does)."""
    fired = []

    def run(name: str) -> None:
        if not fired:
            fired.append(name)
            effect(name)

    return run
