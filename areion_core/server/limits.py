"""Server limits and timeouts, with the defaults a production deployment starts from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Every bound the server enforces, and the status it answers with when one is passed.

    Timeouts are checked by a once-a-second tick against the time of the previous tick, so
    they fire within a second either side of their value.
    """

    max_url_bytes: int = 8 * 1024  # 414 URI Too Long
    max_header_bytes: int = 16 * 1024  # 431, all header lines together
    max_headers: int = 100  # 431
    max_body_bytes: int = 10 * 1024 * 1024  # 413 (Content-Length, or while reading); route max_body_bytes= wins
    max_form_parts: int = 1000  # 413: parts of one multipart/form-data body
    max_form_files: int = 100  # 413: file parts of one multipart/form-data body
    max_form_field_bytes: int = 1024 * 1024  # 413: one non-file form field's value
    form_spool_bytes: int = 1024 * 1024  # an uploaded file moves from memory to a temporary file past this
    header_timeout: float = 10.0  # 408 then close: first byte of a request to end of its headers
    body_timeout: float = 60.0  # 408 then close: no body byte for this long
    keepalive_timeout: float = 5.0  # idle keep-alive connections are closed after this
    max_connections: int = 10_000  # past this, new connections get 503 + Retry-After
    max_pipelined: int = 16  # reading pauses while this many requests wait on one connection
    write_buffer_high: int = 256 * 1024  # transport pauses the writer (and we pause reading) above this
    send_timeout: float = 60.0  # abort a connection whose write buffer has stayed full this long
    shutdown_grace: float = 30.0  # SIGTERM: how long in-flight requests may take before being cut
    drain_linger: float = 1.0  # SIGTERM: an idle keep-alive connection still answers a request this long
    retry_after: int = 1  # seconds, in 503 answers when over max_connections
    # Seconds a handler may take before it is cancelled and the client gets a 503 (None: no bound;
    # a route's timeout= wins). Not the once-a-second sweep: the app sets a loop timer per request.
    request_timeout: float | None = None
