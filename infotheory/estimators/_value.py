"""Estimates that say their unit: a ``float`` carrying ``unit`` and ``base``."""

from __future__ import annotations

from typing import Any

from .._units import log_base


class Information(float):
    """An amount of information: a plain ``float`` (arithmetic gives floats) that also says its unit.

    ``unit`` is ``"bits"``, ``"nats"``, ``"hartleys"`` or ``"log<b> units"``; ``base`` is the
    ``base=`` argument that produced it. ``h.to("e")`` converts (``h.to(2)`` to bits).
    """

    __slots__ = ("base", "unit")
    base: str | float
    unit: str

    def __new__(cls, value: float, base: str | float = 2) -> Information:
        _, unit = log_base(base)
        try:
            obj = super().__new__(cls, value)
        except (TypeError, ValueError, OverflowError) as e:
            raise TypeError(f"value must be a real number, got {value!r}") from e
        obj.base, obj.unit = base, unit
        return obj

    @classmethod
    def from_nats(cls, nats: float, base: str | float) -> Information:
        """``nats`` expressed in the unit of ``base``."""
        ln_b, _ = log_base(base)
        return cls(float(nats) / ln_b, base)

    def to(self, base: str | float) -> Information:
        """The same amount in the unit of ``base``."""
        return Information.from_nats(float(self) * log_base(self.base)[0], base)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Information, (float(self), self.base))

    def __repr__(self) -> str:
        return float.__repr__(self)
