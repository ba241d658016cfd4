"""Units of information: the ``base=`` argument shared by every public function."""

from __future__ import annotations

import math

import numpy as np

_NAMED = {"e": (1.0, "nats"), "nats": (1.0, "nats"), "bits": (math.log(2.0), "bits")}


def log_base(base: str | float) -> tuple[float, str]:
    """Return (ln(base), unit name) for ``base`` in {"e", 2, 10, any positive number != 1}.

    Divide a value in nats by the first element to express it in ``base``.
    """
    if isinstance(base, str):
        if base in _NAMED:
            return _NAMED[base]
        raise ValueError(
            f'base must be "e", "nats", "bits" or a positive number != 1, got {base!r}'
        )
    if isinstance(base, (bool, np.bool_)) or not isinstance(
        base, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"base must be a string or a number, got {type(base).__name__}")
    try:
        b = float(base)
    except OverflowError:  # an int beyond the float range
        b = math.inf
    if not math.isfinite(b) or b <= 0.0 or b == 1.0:
        raise ValueError(f"base must be a positive number other than 1, got {base!r}")
    if b == 2.0:
        return math.log(2.0), "bits"
    if b == 10.0:
        return math.log(10.0), "hartleys"
    if b == math.e:
        return 1.0, "nats"
    return math.log(b), f"log{b:g} units"
