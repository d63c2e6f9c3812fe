"""Trusted hosts: answer only the ``Host`` names the app is deployed under.

A request for another name is a DNS-rebinding attempt, a misrouted request or a forged
``Host`` that would poison absolute URLs and caches; it gets a 400 problem+json before any
handler or cache runs. ``request.host`` already reports a trusted proxy's
``X-Forwarded-Host`` / ``Forwarded: host=`` (``forwarded_allow_ips``) and the raw ``Host``
otherwise, so an untrusted peer cannot get past the list with a forwarded header.
"""

from __future__ import annotations

from areion_core import HttpResponse, problem_response

#: The bounded memo of decisions: a flood of random Host values must not grow it for ever.
_MEMO_SIZE = 256


def host_name(host: str) -> str:
    """``host`` without its port, lower-cased (``[::1]:8000`` → ``[::1]``)."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    name, _, _port = host.partition(":")
    return name.rstrip(".")


class HostAllowList:
    """``example.com`` (exact), ``*.example.com`` (any subdomain, not the apex) or ``*`` (any)."""

    __slots__ = ("any", "exact", "memo", "suffixes")

    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.any = "*" in allowed
        self.exact = frozenset(host_name(h) for h in allowed if not h.startswith("*"))
        self.suffixes = tuple(h[1:] for h in allowed if h.startswith("*."))  # ".example.com"
        self.memo: dict[str | bytes, bool] = {}

    def allows(self, host: str | bytes) -> bool:
        """Whether a request for ``host`` (with or without a port; bytes: as sent) is answered."""
        known = self.memo.get(host)
        if known is not None:
            return known
        name = host_name(host.decode("latin-1") if isinstance(host, bytes) else host)
        verdict = self.any or name in self.exact or (bool(name) and any(
            name.endswith(s) and len(name) > len(s) for s in self.suffixes))
        if len(self.memo) >= _MEMO_SIZE:
            self.memo.clear()
        self.memo[host] = verdict
        return verdict

    def refusal(self, host: str | bytes) -> HttpResponse:
        """The 400 answer for a host outside the list."""
        if isinstance(host, bytes):
            host = host.decode("latin-1")
        shown = host if len(host) <= 100 else host[:100] + "..."
        return problem_response(400, f"invalid host header: {shown!r} is not served here")
