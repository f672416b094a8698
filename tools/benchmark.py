"""Measure what a computation costs: time per call, peak memory of its tensors,
and growth rates.

Memory is counted by watching every tensor that PyTorch's operators create
(:class:`PeakTensorMemory`), not by asking the operating system. The count is
the same on every run and every device, so a notebook can print it, or a
verdict built on it, and nbval can check it. Times are real and change from run
to run; print them only in cells whose output nbval ignores.
"""

from __future__ import annotations

import math
import time
import weakref
from typing import Any, Callable, Sequence

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = [
    "PeakTensorMemory",
    "peak_tensor_bytes",
    "seconds_per_call",
    "growth_exponent",
]


class PeakTensorMemory(TorchDispatchMode):
    """Within the ``with`` block, track the bytes held by storages that
    operators allocate.

    Each new storage counts from the moment an operator returns it until the
    storage is freed. Views share their input's storage and add nothing;
    tensors that existed before the block are not counted. ``peak`` is the
    largest total seen; ``allocations`` lists the bytes of every new storage,
    in order. Temporaries inside composite operators such as
    ``einsum`` are counted too, since those decompose into operators that pass
    through here.

    >>> with PeakTensorMemory() as mem:
    ...     a = torch.zeros(1000, dtype=torch.float64)
    ...     b = a + 1
    ...     del a, b
    >>> mem.peak, mem.current
    (16000, 0)
    """

    def __init__(self) -> None:
        super().__init__()
        self.current = 0
        self.peak = 0
        self.allocations: list[int] = []
        self._live: set[int] = set()

    def _release(self, key: int, nbytes: int) -> None:
        if key in self._live:
            self._live.discard(key)
            self.current -= nbytes

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple = (),
        kwargs: dict | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        # A view (x.T, x[:m], ...) shares its input's storage: nothing new was
        # allocated.
        inputs = {
            t.untyped_storage().data_ptr()
            for t in tree_flatten((args, kwargs))[0]
            if isinstance(t, torch.Tensor) and t.device.type != "meta"
        }
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                storage = t.untyped_storage()
                key, nbytes = storage.data_ptr(), storage.nbytes()
                if nbytes and key not in self._live and key not in inputs:
                    self._live.add(key)
                    self.allocations.append(nbytes)
                    self.current += nbytes
                    self.peak = max(self.peak, self.current)
                    # Tie the release to the storage, not to this tensor
                    # object: an operator may return a temporary tensor whose
                    # storage lives on in a view of it.
                    weakref.finalize(storage, self._release, key, nbytes)
        return out


def peak_tensor_bytes(fn: Callable[[], Any]) -> int:
    """Peak bytes of the tensors that ``fn()`` allocates (its result included),
    by :class:`PeakTensorMemory`."""
    with PeakTensorMemory() as mem:
        result = fn()
        del result
    return mem.peak


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def seconds_per_call(
    fn: Callable[[], Any], *, repeat: int = 5, min_time: float = 0.05
) -> float:
    """Best-of-``repeat`` wall time of one call of ``fn``, each timing long
    enough to be meaningful.

    One warm-up call first; then each of the ``repeat`` rounds calls ``fn``
    enough times to last at least ``min_time`` seconds. The minimum over rounds
    is the least disturbed by other work.
    """
    fn()
    _synchronize()
    calls = 1
    while True:  # find how many calls make one round last min_time
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        _synchronize()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            break
        calls *= 2
    best = elapsed / calls
    for _ in range(repeat - 1):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        _synchronize()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def growth_exponent(sizes: Sequence[float], costs: Sequence[float]) -> float:
    """Slope of the least-squares line through ``(log size, log cost)``: cost
    grows like ``size**slope``.

    >>> sizes = [8, 16, 32, 64]
    >>> round(growth_exponent(sizes, [3 * m**2 for m in sizes]), 6)
    2.0
    """
    if len(sizes) != len(costs) or len(sizes) < 2:
        raise ValueError(
            "sizes and costs must have the same length >= 2, "
            f"got {len(sizes)} and {len(costs)}"
        )
    if min(sizes) <= 0 or min(costs) <= 0:
        raise ValueError("sizes and costs must be positive to take logarithms")
    xs, ys = [math.log(s) for s in sizes], [math.log(c) for c in costs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("sizes must not all be equal")
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
