"""Faster pickling of the record dataclasses, for Beam's PickleCoder (every shuffle of an Article).

Frozen, slotted dataclasses pickle through ``dataclasses._dataclass_getstate/_setstate``, which call
``dataclasses.fields()`` and ``object.__setattr__`` per field in Python: about 60% of an Article's
encode+decode time. Here each record class is reduced to ``(cls, field values)`` instead, rebuilt by
its own ``__init__`` (same values, same validation), registered with :mod:`copyreg` once per process
on import of :mod:`feedflow.transforms.base` (so on every Beam worker that runs a feedflow DoFn).
The pickled bytes stay plain pickle: any process that imports feedflow can read them.
"""

from __future__ import annotations

import copyreg
import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from feedflow.model import Article, Entity, Paragraph, RawArticle, Rejection, TopicScore

RECORDS: tuple[type, ...] = (Article, Paragraph, Entity, TopicScore, RawArticle, Rejection)


def _reducer(cls: type) -> Callable[[Any], tuple[type, tuple[Any, ...]]]:
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    if len(names) != len(dataclasses.fields(cls)):
        raise TypeError(f"{cls.__name__} has fields outside __init__: it cannot be rebuilt from its values")
    values = attrgetter(*names)

    def reduce(record: Any) -> tuple[type, tuple[Any, ...]]:
        return cls, values(record)

    return reduce


def register() -> None:
    for cls in RECORDS:
        copyreg.pickle(cls, _reducer(cls))
