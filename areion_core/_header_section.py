"""The head of the request being read: its target and each header field as llhttp reports
them, kept, counted against the limits and, for the few names the framing rules need, read.

llhttp (httptools) calls ``on_header`` once per field, so a browser's dozen fields cost a
dozen calls per request, and ``on_url`` once per request. Where this module is compiled (see
``_compiled.py``) these are an extension type's methods: no Python frame per call, the
lengths and counts in C. The reader in ``server/parser.py`` owns one ``HeaderSection`` per
connection and reads the result from it when the head is complete.
"""

from __future__ import annotations

# What a Host value may hold: uri-host [":" port] (RFC 9112 §3.2, RFC 3986 §3.2.2), the most
# frequent first; ``value.lstrip(HOST_CHARS)`` is empty exactly when every byte is one of them.
HOST_CHARS = b"abcdefghijklmnopqrstuvwxyz0123456789.:-ABCDEFGHIJKLMNOPQRSTUVWXYZ_~!$&'()*+,;=[]%"


class Reject(Exception):
    """Raised inside a parser callback to stop parsing and answer with ``status``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class HeaderSection:
    """The target and the fields of one request's head (and its trailer fields, appended)."""

    __slots__ = (
        "conditional",
        "content_length",
        "expect",
        "fields",
        "host_count",
        "max_bytes",
        "max_fields",
        "max_url",
        "size",
        "te",
        "url",
        "valid_host",
    )

    def __init__(self, max_url: int, max_bytes: int, max_fields: int) -> None:
        #: The limits on the target's bytes, on the fields' bytes (names and values) and on
        #: their number.
        self.max_url = max_url
        self.max_bytes = max_bytes
        self.max_fields = max_fields
        #: The request target, as llhttp hands it over (in pieces when it spans reads).
        self.url = b""
        #: The last Host value found valid: a keep-alive client sends the same one each time.
        self.valid_host = b""
        self.fields: list[tuple[bytes, bytes]] = []
        self.size = 0
        self.host_count = 0
        self.te: bytes | None = None
        self.expect = False
        self.content_length = -1
        self.conditional = False

    def reset(self) -> None:
        """Start the next request's section (a new list: the last one went with its request)."""
        self.url = b""
        self.fields = []
        self.size = 0
        self.host_count = 0
        self.te = None
        self.expect = False
        self.content_length = -1
        self.conditional = False

    def on_url(self, url: bytes) -> None:
        """The request target, or a piece of it."""
        if len(self.url) + len(url) > self.max_url:
            raise Reject(414, "request target too long")
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        """One field, as llhttp reports it: kept, counted, and read when the framing needs it
        (Host, Transfer-Encoding, Expect, Content-Length, the conditional headers)."""
        fields = self.fields
        fields.append((name, value))
        self.size += len(name) + len(value)
        if self.size > self.max_bytes or len(fields) > self.max_fields:
            raise Reject(431, "request header fields too large")
        size = len(name)
        # Only names of these lengths can matter (4 host, 6 expect, 13 if-none-match,
        # 14 content-length, 17 transfer-encoding and if-modified-since): most skip lower().
        if size != 4 and size != 6 and size != 13 and size != 14 and size != 17:
            return
        lower = name.lower()
        if lower == b"host":
            self.host_count += 1
            if value != self.valid_host:
                if value.lstrip(HOST_CHARS):
                    raise Reject(400, "invalid Host header")  # RFC 9112 §3.2
                self.valid_host = value
        elif lower == b"transfer-encoding":
            # Several fields are one list (RFC 9110 §5.3), judged whole when the section ends.
            te = value.lower()
            self.te = te if self.te is None else self.te + b"," + te
        elif lower == b"expect":
            self.expect = value.lower() == b"100-continue"
        elif lower == b"if-none-match" or lower == b"if-modified-since":
            self.conditional = True
        elif lower == b"content-length":
            try:
                self.content_length = int(value)  # llhttp has validated the digits
            except ValueError:
                raise Reject(400, "invalid Content-Length") from None
