"""Per-route caching rules and the decorators that attach them: ``@cache`` and ``@etag``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from areion_core import HttpRequest

F = TypeVar("F", bound=Callable[..., Any])

#: Route option keys (also usable as ``router.add_route(..., cache=60, etag=True)``).
CACHE_OPTION = "cache"
ETAG_OPTION = "etag"

KeyFunc = Callable[["HttpRequest"], str]
Predicate = Callable[["HttpRequest"], bool]
TagFunc = Callable[["HttpRequest"], Iterable[str]]


@dataclass(frozen=True, slots=True)
class CacheRule:
    """How one route's responses are cached on the server.

    Attributes:
        ttl: seconds a response is fresh; ``None`` takes ``default_ttl`` from the config.
        key: ``key(request) -> str`` replacing path and query in the cache key.
        vary: extra request headers that select a variant (added to ``Vary`` too).
        unless: ``unless(request) -> bool``; true means neither read nor write the cache.
        tags: invalidation tags, or ``tags(request) -> iterable`` for per-request tags.
        stale_while_revalidate: seconds after expiry a stale copy is served while one
            refresh runs in the background.
        stale_if_error: seconds after expiry a stale copy is served when the handler
            raises or returns a 5xx.
        allow_authorized: cache requests that carry ``Authorization`` or ``Cookie``.
            Such requests still never share entries with anonymous ones.
    """

    ttl: float | None = None
    key: KeyFunc | None = None
    vary: tuple[str, ...] = ()
    unless: Predicate | None = None
    tags: tuple[str, ...] | TagFunc = ()
    stale_while_revalidate: float | None = None
    stale_if_error: float | None = None
    allow_authorized: bool = False

    def __post_init__(self) -> None:
        for name in ("ttl", "stale_while_revalidate", "stale_if_error"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
            ):
                raise ValueError(f"cache {name} must be a number of seconds >= 0, got {value!r}")
        if self.key is not None and not callable(self.key):
            raise TypeError(f"cache key must be a function of the request, got {self.key!r}")
        if self.unless is not None and not callable(self.unless):
            raise TypeError(f"cache unless must be a function of the request, got {self.unless!r}")
        if isinstance(self.vary, str):
            object.__setattr__(self, "vary", (self.vary,))
        object.__setattr__(
            self, "vary", tuple(sorted({h.strip().lower() for h in self.vary if h.strip()}))
        )
        if isinstance(self.tags, str):
            object.__setattr__(self, "tags", (self.tags,))
        elif not callable(self.tags):
            object.__setattr__(self, "tags", tuple(self.tags))

    def with_default_ttl(self, ttl: float) -> CacheRule:
        if self.ttl is not None:
            return self
        return CacheRule(
            ttl,
            self.key,
            self.vary,
            self.unless,
            self.tags,
            self.stale_while_revalidate,
            self.stale_if_error,
            self.allow_authorized,
        )

    def tags_for(self, request: HttpRequest) -> tuple[str, ...]:
        tags = self.tags
        if callable(tags):
            return tuple(str(t) for t in tags(request))
        return tags

    @classmethod
    def from_value(cls, value: Any, where: str) -> CacheRule | None:
        """A rule from a route option or config value: seconds, ``True``/``False`` or a table."""
        if value is None or value is False:
            return None
        if isinstance(value, CacheRule):
            return value
        if value is True:
            return cls()
        if isinstance(value, (int, float)):
            return cls(ttl=value)
        if isinstance(value, Mapping):
            allowed = {
                "ttl",
                "vary",
                "tags",
                "stale_while_revalidate",
                "stale_if_error",
                "allow_authorized",
            }
            kwargs = {str(k).replace("-", "_"): v for k, v in value.items()}
            unknown = set(kwargs) - allowed
            if unknown:
                raise ValueError(
                    f"{where}: unknown cache setting(s) {sorted(unknown)}; "
                    f"expected {sorted(allowed)}"
                )
            return cls(**kwargs)
        raise ValueError(
            f"{where}: expected seconds, true/false or a table of cache settings, got {value!r}"
        )


@overload
def cache(ttl: F) -> F: ...
@overload
def cache(
    ttl: float | None = None,
    key: KeyFunc | None = None,
    vary: Iterable[str] = (),
    unless: Predicate | None = None,
    tags: Iterable[str] | TagFunc = (),
    stale_while_revalidate: float | None = None,
    stale_if_error: float | None = None,
    allow_authorized: bool = False,
) -> Callable[[F], F]: ...
def cache(
    ttl: Any = None,
    key: KeyFunc | None = None,
    vary: Iterable[str] = (),
    unless: Predicate | None = None,
    tags: Iterable[str] | TagFunc = (),
    stale_while_revalidate: float | None = None,
    stale_if_error: float | None = None,
    allow_authorized: bool = False,
) -> Any:
    """Cache a GET route's responses on the server.

    ``@cache(ttl=60)`` above or below ``@router.get(...)``; ``@cache`` alone uses the
    configured ``default_ttl`` (60 s unless set); ``@cache(False)`` turns caching off for a
    route that a ``routes`` pattern in the config would cache. See :class:`CacheRule` for each
    argument.
    """
    if callable(ttl):
        return cache()(ttl)
    rule: CacheRule | bool
    if ttl is False:
        rule = False  # turn off caching a config pattern would give this route
    else:
        rule = CacheRule(
            ttl,
            key,
            tuple(vary),
            unless,
            tags if callable(tags) else tuple(tags),
            stale_while_revalidate,
            stale_if_error,
            allow_authorized,
        )

    def decorate(func: F) -> F:
        from areion_core import set_route_option

        set_route_option(func, CACHE_OPTION, rule)
        return func

    return decorate


def etag(func: F) -> F:
    """Give a route's 200 responses a strong ``ETag`` (a hash of the body), enabling 304s."""
    from areion_core import set_route_option

    set_route_option(func, ETAG_OPTION, True)
    return func
