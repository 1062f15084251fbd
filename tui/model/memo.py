"""Work done once per object of the immutable model (a view, an index, a lookup table).

The model's objects never change, so a result computed from one stays right as long as the object
lives. The cache holds the object itself, which keeps its id from being reused by a newer one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def per_object(maxsize: int) -> Callable[[Callable[[T], R]], Callable[[T], R]]:
    def wrap(fn: Callable[[T], R]) -> Callable[[T], R]:
        cache: dict[int, tuple[T, R]] = {}

        @functools.wraps(fn)
        def cached(obj: T) -> R:
            hit = cache.get(id(obj))
            if hit is not None and hit[0] is obj:
                return hit[1]
            value = fn(obj)
            if len(cache) >= maxsize:
                cache.pop(next(iter(cache)))  # the oldest
            cache[id(obj)] = (obj, value)
            return value

        return cached

    return wrap
