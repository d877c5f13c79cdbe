"""The machinery of the typed report (:mod:`photondbg.capture.model`): a :class:`Section` is a
JSON object whose declared fields are typed dataclass fields, whose nested sections are read into
their own classes (``NESTED``), and whose unknown keys are kept in ``extra`` and written back in
their place, so ``from_dict(d).to_dict() == d``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class Section:
    """A JSON object with typed, declared fields (see the module text)."""

    NESTED: ClassVar[dict[str, type[Section]]] = {}  # field -> section type (lists: each item)
    REQUIRED: ClassVar[tuple[str, ...]] = ()  # written even when None

    extra: dict[str, Any] = field(default_factory=dict, repr=False, kw_only=True)
    _keys: tuple[str, ...] = field(default=(), repr=False, compare=False, kw_only=True)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name not in ("extra", "_keys")]

    @classmethod
    def from_dict(cls, d: dict | None):
        if d is None:
            return None
        if not isinstance(d, dict):
            raise TypeError(f"{cls.__name__}: expected an object, got {type(d).__name__}")
        known = cls.names()
        kw: dict[str, Any] = {}
        for name in known:
            if name in d:
                kw[name] = _load(cls.NESTED.get(name), d[name])
        obj = cls(**kw, extra={k: v for k, v in d.items() if k not in known})
        obj._keys = tuple(d)
        return obj

    def to_dict(self) -> dict:
        known = self.names()
        order = list(self._keys) + [k for k in known + list(self.extra) if k not in self._keys]
        out: dict[str, Any] = {}
        for key in order:
            if key in known:
                value = getattr(self, key)
                # a report read from JSON keeps its keys; a new one has every required key
                if (
                    value is None
                    and key not in self._keys
                    and (self._keys or key not in self.REQUIRED)
                ):
                    continue
                out[key] = _dump(value)
            elif key in self.extra:
                out[key] = self.extra[key]
        return out

    def get(self, key: str, default=None):
        """A field or an extra key by its JSON name (for readers of optional additions)."""
        if key in self.names():
            value = getattr(self, key)
            return default if value is None else value
        return self.extra.get(key, default)


def _load(kind: type[Section] | None, value):
    if kind is None or value is None:
        return value
    if isinstance(value, list):
        return [kind.from_dict(v) if isinstance(v, dict) else v for v in value]
    return kind.from_dict(value) if isinstance(value, dict) else value


def _dump(value):
    if isinstance(value, Section):
        return value.to_dict()
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value
