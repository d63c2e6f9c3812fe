"""``Cache-Control`` for clients and proxies: Areion 1.x's ``CacheControl`` and ``CacheTypes``.

Every directive is spelled as RFC 9111 §5.2.2 (and RFC 5861 / RFC 8246 for the stale and
immutable extensions) spell it: ``max-age=60``, never ``max_age=60``; ``stale-if-error``
always carries its number of seconds. Contradictory combinations raise
:class:`CacheControlError` when the object is made, which is at import or startup.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: The route option key under which a route's CacheControl is kept.
ROUTE_OPTION = "cache_control"


class CacheControlError(ValueError):
    """A Cache-Control that contradicts itself or has a bad value."""


class CacheTypes(str, enum.Enum):
    """The main cache types, as in Aeros (``CacheTypes.PUBLIC`` etc.), for IDE completion."""

    NO_CACHE = "no-cache"
    NO_STORE = "no-store"
    PUBLIC = "public"
    PRIVATE = "private"


#: Directive names (Python spelling) that take no value.
FLAG_DIRECTIVES = (
    "public",
    "private",
    "no_cache",
    "no_store",
    "must_revalidate",
    "proxy_revalidate",
    "no_transform",
    "immutable",
)
#: Directive names (Python spelling) that take seconds.
SECONDS_DIRECTIVES = ("max_age", "s_maxage", "stale_while_revalidate", "stale_if_error")
# The order directives are written in: cacheability, freshness, revalidation, extensions.
_ORDER = (
    "public",
    "private",
    "no_cache",
    "no_store",
    "max_age",
    "s_maxage",
    "must_revalidate",
    "proxy_revalidate",
    "no_transform",
    "immutable",
    "stale_while_revalidate",
    "stale_if_error",
)


def _seconds(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        # Aeros took ``stale_if_error: bool`` and sent a valueless directive, which RFC 5861
        # does not allow; say so rather than guess a number.
        raise CacheControlError(
            f"{name.replace('_', '-')} needs a number of seconds, got {value!r}"
        )
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise CacheControlError(
            f"{name.replace('_', '-')} must be a whole number of seconds >= 0, got {value!r}"
        )
    return value


class CacheControl:
    """A ``Cache-Control`` header value, usable as a route decorator and in config.

    ``CacheControl(CacheTypes.PUBLIC, max_age=300)`` is ``public, max-age=300``. As a
    decorator it sets the header on the route's responses whose status is in
    ``cache_on_status`` (default ``[200]``), unless the handler set ``Cache-Control``
    itself. The 1.x positional parameters come first; every other RFC 9111 directive is
    a keyword: ``s_maxage``, ``must_revalidate``, ``proxy_revalidate``, ``public``,
    ``private``, ``no_cache``, ``no_store``.

    Raises :class:`CacheControlError` for contradictions: ``public`` with ``private``;
    ``no-store`` with ``public``, ``max-age``, ``s-maxage``, ``immutable`` or a stale window;
    ``no-cache`` with ``immutable``; ``private`` with ``s-maxage``.
    """

    __slots__ = (
        "cache_on_status",
        "immutable",
        "max_age",
        "must_revalidate",
        "no_cache",
        "no_store",
        "no_transform",
        "private",
        "proxy_revalidate",
        "public",
        "s_maxage",
        "stale_if_error",
        "stale_while_revalidate",
        "value",
    )

    def __init__(
        self,
        cache_type: CacheTypes | str | Iterable[CacheTypes | str] | None = None,
        max_age: int | timedelta | None = None,
        immutable: bool = False,
        no_transform: bool = False,
        stale_while_revalidate: int | timedelta | None = None,
        stale_if_error: int | timedelta | None = None,
        cache_on_status: Iterable[int] = (200,),
        *,
        s_maxage: int | timedelta | None = None,
        must_revalidate: bool = False,
        proxy_revalidate: bool = False,
        public: bool = False,
        private: bool = False,
        no_cache: bool = False,
        no_store: bool = False,
    ) -> None:
        flags = {"public": public, "private": private, "no_cache": no_cache, "no_store": no_store}
        types: Iterable[CacheTypes | str]
        if cache_type is None:
            types = ()
        elif isinstance(cache_type, (str, CacheTypes)):
            types = (cache_type,)
        else:
            types = cache_type
        for item in types:
            try:
                kind = CacheTypes(item)
            except ValueError:
                raise CacheControlError(
                    f"unknown cache type {item!r}; expected one of "
                    f"{', '.join(t.value for t in CacheTypes)}"
                ) from None
            flags[kind.name.lower()] = True
        self.public = bool(flags["public"])
        self.private = bool(flags["private"])
        self.no_cache = bool(flags["no_cache"])
        self.no_store = bool(flags["no_store"])
        self.must_revalidate = bool(must_revalidate)
        self.proxy_revalidate = bool(proxy_revalidate)
        self.no_transform = bool(no_transform)
        self.immutable = bool(immutable)
        self.max_age = _seconds("max_age", max_age)
        self.s_maxage = _seconds("s_maxage", s_maxage)
        # Aeros's default for stale_if_error was False: treat False as "not set".
        self.stale_while_revalidate = _seconds(
            "stale_while_revalidate",
            None if stale_while_revalidate is False else stale_while_revalidate,
        )
        self.stale_if_error = _seconds(
            "stale_if_error", None if stale_if_error is False else stale_if_error
        )
        statuses = frozenset(cache_on_status)
        for status in statuses:
            if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
                raise CacheControlError(
                    f"cache_on_status holds {status!r}, expected HTTP status codes"
                )
        self.cache_on_status = statuses
        self._check()
        self.value = self._render()

    def _check(self) -> None:
        if self.public and self.private:
            raise CacheControlError("Cache-Control cannot be both public and private")
        if self.no_store:
            clash = [
                name
                for name, on in (
                    ("public", self.public),
                    ("max-age", self.max_age is not None),
                    ("s-maxage", self.s_maxage is not None),
                    ("immutable", self.immutable),
                    ("stale-while-revalidate", self.stale_while_revalidate is not None),
                    ("stale-if-error", self.stale_if_error is not None),
                )
                if on
            ]
            if clash:
                raise CacheControlError(
                    f"no-store forbids storing, which contradicts {', '.join(clash)}"
                )
        if self.no_cache and self.immutable:
            raise CacheControlError(
                "no-cache (always revalidate) contradicts immutable (never revalidate)"
            )
        if self.private and self.s_maxage is not None:
            raise CacheControlError("s-maxage applies to shared caches, which private excludes")
        if not self.value_parts():
            raise CacheControlError("Cache-Control needs at least one directive")

    def value_parts(self) -> list[str]:
        """The directives in a fixed order, e.g. ``["public", "max-age=60"]``."""
        parts: list[str] = []
        for name in _ORDER:
            attr = getattr(self, name)
            spelled = name.replace("_", "-")
            if name in SECONDS_DIRECTIVES:
                if attr is not None:
                    parts.append(f"{spelled}={attr}")
            elif attr:
                parts.append(spelled)
        return parts

    def _render(self) -> str:
        return ", ".join(self.value_parts())

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"CacheControl({self.value!r}, cache_on_status={sorted(self.cache_on_status)})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CacheControl)
            and self.value == other.value
            and self.cache_on_status == other.cache_on_status
        )

    def __hash__(self) -> int:
        return hash((self.value, self.cache_on_status))

    def __call__(self, func: F) -> F:
        """Decorate a handler: its responses get this ``Cache-Control``."""
        from areion_core import set_route_option

        set_route_option(func, ROUTE_OPTION, self)
        return func

    def applies_to(self, status: int) -> bool:
        return status in self.cache_on_status

    def apply(self, response: Any) -> None:
        """Set the header on ``response`` if its status is covered and it has none of its own."""
        if response.status_code in self.cache_on_status and "cache-control" not in response.headers:
            response.headers["cache-control"] = self.value

    # --- config ------------------------------------------------------------------------
    @classmethod
    def parse(cls, header: str, cache_on_status: Iterable[int] = (200,)) -> CacheControl:
        """Build from a header value such as ``"public, max-age=60"``; unknown directives raise."""
        kwargs: dict[str, Any] = {}
        for raw in header.split(","):
            part = raw.strip()
            if not part:
                continue
            name, sep, arg = part.partition("=")
            spelled = name.strip().lower()
            # Header text must use the RFC's spelling: "max_age" is a typo, not an alias.
            attr = "" if "_" in spelled else spelled.replace("-", "_")
            if attr in SECONDS_DIRECTIVES:
                if not sep:
                    raise CacheControlError(
                        f"{name.strip()} needs a value (e.g. {name.strip()}=60)"
                    )
                try:
                    kwargs[attr] = int(arg.strip().strip('"'))
                except ValueError:
                    raise CacheControlError(
                        f"{name.strip()}={arg.strip()} is not a number of seconds"
                    ) from None
            elif attr in FLAG_DIRECTIVES:
                if sep:
                    raise CacheControlError(f"{name.strip()} takes no value")
                kwargs[attr] = True
            else:
                raise CacheControlError(f"unknown Cache-Control directive {name.strip()!r}")
        return cls(cache_on_status=cache_on_status, **kwargs)

    @classmethod
    def from_config(cls, value: CacheControl | str | Mapping[str, Any]) -> CacheControl:
        """From a config value: a header string or a table of directives.

        A table may spell keys ``max-age`` or ``max_age``, and may hold ``cache_on_status``
        and ``cache_type``: ``{public = true, max-age = 60, cache_on_status = [200, 404]}``.
        """
        if isinstance(value, CacheControl):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, Mapping):
            kwargs: dict[str, Any] = {}
            for key, item in value.items():
                attr = str(key).lower().replace("-", "_")
                if attr == "value":
                    continue
                if attr not in FLAG_DIRECTIVES + SECONDS_DIRECTIVES + ("cache_on_status", "cache_type"):
                    raise CacheControlError(f"unknown Cache-Control setting {key!r}")
                kwargs[attr] = item
            header = value.get("value")
            if isinstance(header, str):
                made = cls.parse(header, kwargs.pop("cache_on_status", (200,)))
                if kwargs:
                    raise CacheControlError('give either value = "..." or directives, not both')
                return made
            return cls(**kwargs)
        raise CacheControlError(f"expected a Cache-Control string or table, got {value!r}")
