"""What a plugin may use beyond ``areion_core``'s own exports: the whole plugin-facing surface.

Plugins import from ``areion_core`` and from this module only (a test checks every plugin in
``plugins/`` with ``ast``). Everything here is documented in ``docs/plugins.md``.
"""

from ._forwarded import PROXY_HEADERS, has_proxy_headers
from ._header_blocks import HeaderBlock
from ._status import status_phrase
from .headers import HeaderStamp, elapsed_ms, raw_header, raw_header_values
from .hook_chains import HookChain, HookLink, route_chain, run_response_ready
from .hookspecs import REPLAYED, hookimpl, hookspec, skip_replayed, skip_small_bodies
from .response import dumps_json, guess_type
from .server.dates import http_date, origin_date, parse_http_date
from .settings import EnvText, SettingsReader, expand_env
from .static import StaticFiles

__all__ = [
    "PROXY_HEADERS",
    "REPLAYED",
    "EnvText",
    "HeaderBlock",
    "HeaderStamp",
    "HookChain",
    "HookLink",
    "SettingsReader",
    "StaticFiles",
    "dumps_json",
    "elapsed_ms",
    "expand_env",
    "guess_type",
    "has_proxy_headers",
    "hookimpl",
    "hookspec",
    "http_date",
    "origin_date",
    "parse_http_date",
    "raw_header",
    "raw_header_values",
    "route_chain",
    "run_response_ready",
    "skip_replayed",
    "skip_small_bodies",
    "status_phrase",
]
