"""The malformed-input corpus: raw requests and what the server must do with each.

Plain data, read by ``test_malformed_corpus.py``. Every case is sent over a fresh TCP
connection to one server configured with ``LIMITS``. ``expect`` is the status of the one
answer, the statuses of several pipelined answers in order, or ``CLOSE`` (the connection is
closed without an answer; the client half-closes after sending). ``keeps_open`` says whether
the same connection must then answer a follow-up request; when it is False the server must
close right after its answers and send nothing more. ``absent`` is a marker that must never
appear in what the server sends (the answer to a smuggled request).

The rule where a case is a judgement call: follow RFC 9112/9110, and when a request could be
read two ways, refuse it (400) and close rather than guess. Non-obvious cases say why.
"""

from __future__ import annotations

from typing import NamedTuple

#: The server under test; cases that probe a limit are written against these numbers.
LIMITS = {"max_url_bytes": 1024, "max_header_bytes": 2048, "max_headers": 20, "max_body_bytes": 1024,
          # Far past the test's hang timeout, so that no case passes by waiting for one.
          "header_timeout": 60, "body_timeout": 60, "keepalive_timeout": 60}

CLOSE = "close"


class Case(NamedTuple):
    name: str
    data: bytes | tuple[bytes, ...]  # a tuple is sent as separate TCP segments
    expect: int | tuple[int, ...] | str  # status, pipelined statuses in order, or CLOSE
    keeps_open: bool
    why: str = ""
    absent: bytes = b""
    eof: bool = False  # half-close after sending (implied by CLOSE)
    content: bytes | None = None  # the first answer's body, where it proves the framing


SMUGGLED = b"GET /marker/SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n"
SMUGGLED_ANSWER = b"marker=SMUGGLED"
GET = b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n"
TE = b"Transfer-Encoding: chunked\r\n"


def get(target: bytes = b"/json", headers: bytes = b"Host: x\r\n", version: bytes = b"HTTP/1.1",
        method: bytes = b"GET") -> bytes:
    return method + b" " + target + b" " + version + b"\r\n" + headers + b"\r\n"


def post(headers: bytes, body: bytes = b"", target: bytes = b"/echo") -> bytes:
    return b"POST " + target + b" HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + body


def chunked(body: bytes, target: bytes = b"/echo", method: bytes = b"POST") -> bytes:
    return method + b" " + target + b" HTTP/1.1\r\nHost: x\r\n" + TE + b"\r\n" + body


def cl(value: bytes, body: bytes = b"hello") -> bytes:
    return post(b"Content-Length: " + value + b"\r\n", body)


def te(value: bytes, body: bytes = b"5\r\nhello\r\n0\r\n\r\n", version: bytes = b"HTTP/1.1") -> bytes:
    return (b"POST /echo " + version + b"\r\nHost: x\r\nTransfer-Encoding: " + value + b"\r\n\r\n" + body)


def header(line: bytes) -> bytes:
    return get(headers=b"Host: x\r\n" + line + b"\r\n")


SMUGGLING = [
    # --- Content-Length and Transfer-Encoding together (RFC 9112 §6.3, §11.2) ---------------
    Case("CL+TE: chunked body hides a request", post(b"Content-Length: 4\r\n" + TE, b"0\r\n\r\n" + SMUGGLED),
         400, False, "RFC 9112 §6.3: both framings present is a smuggling attempt; refuse and close",
         absent=SMUGGLED_ANSWER),
    Case("TE+CL: order reversed", post(TE + b"Content-Length: 40\r\n", b"0\r\n\r\n" + SMUGGLED), 400, False,
         "RFC 9112 §6.3", absent=SMUGGLED_ANSWER),
    Case("TE+CL: Content-Length zero", post(TE + b"Content-Length: 0\r\n", b"5\r\nhello\r\n0\r\n\r\n"), 400,
         False, "RFC 9112 §6.3"),
    Case("CL+TE identity", post(b"Content-Length: 5\r\nTransfer-Encoding: identity\r\n", b"hello"), 400, False,
         "RFC 9112 §6.3: a Transfer-Encoding that does not end in chunked cannot frame a request"),
    Case("two equal Content-Length fields", post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"), 400,
         False, "RFC 9112 §6.3 allows merging identical values; refusing every duplicate is never ambiguous"),
    Case("two different Content-Length fields hide a request",
         post(b"Content-Length: 0\r\nContent-Length: 44\r\n", SMUGGLED), 400, False, "RFC 9112 §6.3",
         absent=SMUGGLED_ANSWER),
    Case("Content-Length list of equal values", cl(b"5, 5"), 400, False, "RFC 9112 §6.3, as duplicates"),
    Case("Content-Length list of different values", cl(b"5, 50"), 400, False),
    Case("Content-Length with trailing comma", cl(b"5,"), 400, False),
    Case("Content-Length with plus sign", cl(b"+5"), 400, False, "RFC 9110 §8.6: 1*DIGIT, no sign"),
    Case("Content-Length negative zero", cl(b"-0", b""), 400, False),
    Case("Content-Length in hex", cl(b"0x5"), 400, False),
    Case("Content-Length with inner space", cl(b"5 5"), 400, False),
    Case("Content-Length with inner tab", cl(b"5\t5"), 400, False),
    Case("Content-Length with decimal point", cl(b"5.0"), 400, False),
    Case("Content-Length with exponent", cl(b"5e0"), 400, False),
    Case("Content-Length with underscore", cl(b"1_0", b"0123456789"), 400, False,
         "Python's int() reads 1_0 as 10; the wire grammar is digits only"),
    Case("Content-Length in full-width digits", cl("５".encode()), 400, False),
    Case("Content-Length quoted", cl(b'"5"'), 400, False),
    Case("Content-Length empty", cl(b"", b""), 400, False),
    Case("Content-Length only spaces", cl(b"   ", b""), 400, False),
    Case("Content-Length with leading OWS", cl(b"  5"), 200, True, "RFC 9110 §5.5: OWS is not part of the value",
         content=b"hello"),
    Case("Content-Length with trailing OWS", cl(b"5  "), 200, True, "RFC 9110 §5.5", content=b"hello"),
    Case("Content-Length with leading zeros", cl(b"0005"), 200, True, "RFC 9110 §8.6: 1*DIGIT", content=b"hello"),
    Case("Content-Length overflowing 64 bits", cl(b"99999999999999999999999"), 400, False),
    Case("Content-Length of 2**64", cl(b"18446744073709551616"), 400, False),
    Case("Content-Length just past max_body_bytes", cl(b"1025", b""), 413, False),
    Case("Content-Length of ten gigabytes", cl(b"10000000000", b""), 413, False),
    Case("Content-Length exactly max_body_bytes", cl(b"1024", b"a" * 1024), 200, True),
    Case("Content-Length on a GET", get(headers=b"Host: x\r\nContent-Length: 5\r\n") + b"hello", 200, True,
         "RFC 9110 §9.3.1: the body has no meaning but must be read"),
    Case("Content-Length zero on a POST", cl(b"0", b""), 200, True, content=b""),
    Case("CONTENT-LENGTH in capitals", post(b"CONTENT-LENGTH: 5\r\n", b"hello"), 200, True,
         "RFC 9110 §5.1: field names are case-insensitive", content=b"hello"),
    Case("Content_Length is not Content-Length", post(b"Content_Length: 5\r\n", b"hello"), (200, 400), False,
         "a different token: no body, so 'hello' is the next request line, and it is garbage"),
    Case("Content-Length shorter than the body", post(b"Content-Length: 3\r\n", b"abcdefgh\r\n\r\n"),
         (200, 400), False, "the rest is read as the next request: invalid"),
    # --- Transfer-Encoding values (RFC 9112 §6.1, §6.3, §7) ------------------------------------
    Case("two Transfer-Encoding: chunked fields", post(TE + TE, b"0\r\n\r\n"), 400, False,
         "RFC 9112 §6.1: chunked must not be applied twice"),
    Case("Transfer-Encoding: chunked, chunked", te(b"chunked, chunked"), 400, False, "RFC 9112 §6.1"),
    Case("Transfer-Encoding: chunked, identity", te(b"chunked, identity"), 400, False,
         "RFC 9112 §6.3: chunked is not the final coding of a request: 400 and close"),
    Case("Transfer-Encoding: identity", te(b"identity", b"hello"), 400, False, "RFC 9112 §6.3"),
    Case("Transfer-Encoding: gzip", te(b"gzip", b"hello"), 400, False, "RFC 9112 §6.3: chunked is not final"),
    Case("Transfer-Encoding: xchunked", te(b"xchunked"), 400, False, "not the chunked coding"),
    Case("Transfer-Encoding: chunkedx", te(b"chunkedx"), 400, False),
    Case("Transfer-Encoding: chunked with a parameter", te(b"chunked;q=1"), 400, False,
         "RFC 9112 §7: chunked takes no parameters"),
    Case("Transfer-Encoding: quoted chunked", te(b'"chunked"'), 400, False),
    Case("Transfer-Encoding: empty", te(b""), 400, False),
    Case("Transfer-Encoding: chunked then gzip in a second field", post(TE + b"Transfer-Encoding: gzip\r\n",
         b"0\r\n\r\n"), 400, False, "RFC 9110 §5.3: fields combine to 'chunked, gzip': chunked is not final"),
    Case("Transfer-Encoding: gzip then chunked in a second field", post(b"Transfer-Encoding: gzip\r\n" + TE,
         b"0\r\n\r\n"), 501, False, "RFC 9112 §6.1: a coding the server does not implement is a 501"),
    Case("Transfer-Encoding: deflate, chunked", te(b"deflate, chunked"), 501, False, "RFC 9112 §6.1"),
    Case("Transfer-Encoding: identity, chunked", te(b"identity, chunked"), 501, False,
         "RFC 9112 §7: identity is no longer a registered coding"),
    Case("Transfer-Encoding folded onto the next line", te(b"\r\n chunked"), 400, False,
         "RFC 9112 §5.2: obs-fold in a request is a 400"),
    Case("Transfer-Encoding with a folded continuation", te(b"chunked\r\n\t, identity"), 400, False,
         "RFC 9112 §5.2"),
    Case("Transfer-Encoding with a vertical tab", te(b"\x0bchunked"), 400, False),
    Case("Transfer-Encoding in an HTTP/1.0 request", te(b"chunked", version=b"HTTP/1.0"), 400, False,
         "RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty"),
    Case("Transfer_Encoding is not Transfer-Encoding", post(b"Transfer_Encoding: chunked\r\n",
         b"5\r\nhello\r\n0\r\n\r\n"), (200, 400), False, "no body, so the chunk lines are the next request"),
    Case("Transfer-Encoding: CHUNKED in capitals", te(b"CHUNKED"), 200, True,
         "RFC 9112 §7: coding names are case-insensitive", content=b"hello"),
    Case("Transfer-Encoding with OWS around it", te(b"  chunked  "), 200, True, "RFC 9110 §5.5",
         content=b"hello"),
    Case("Transfer-Encoding with a tab before it", te(b"\tchunked"), 200, True, "RFC 9110 §5.6.3: OWS has HTAB",
         content=b"hello"),
    Case("Transfer-Encoding on a GET", chunked(b"0\r\n\r\n", b"/json", b"GET"), 200, True),
]

CHUNKS = [
    Case("chunk size not hex", chunked(b"g\r\nhello\r\n0\r\n\r\n"), 400, False),
    Case("chunk size with 0x prefix", chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), 400, False),
    Case("chunk size negative", chunked(b"-5\r\nhello\r\n0\r\n\r\n"), 400, False),
    Case("chunk size with leading space", chunked(b" 5\r\nhello\r\n0\r\n\r\n"), 400, False,
         "RFC 9112 §7.1: chunk-size is 1*HEXDIG"),
    Case("chunk size with trailing space", chunked(b"5 \r\nhello\r\n0\r\n\r\n"), 400, False,
         "RFC 9112 §7.1.1: whitespace is allowed only before ';'"),
    Case("chunk size with trailing tab", chunked(b"5\t\r\nhello\r\n0\r\n\r\n"), 400, False),
    Case("chunk size empty", chunked(b"\r\nhello\r\n0\r\n\r\n"), 400, False),
    Case("chunk size overflowing 64 bits", chunked(b"10000000000000000\r\nhello\r\n0\r\n\r\n"), 400, False),
    Case("chunk size of 2**64-1", chunked(b"ffffffffffffffff\r\n" + b"a" * 1100), 413, False,
         "the body limit is enforced on the bytes that arrive"),
    Case("chunk size with leading zeros", chunked(b"0005\r\nhello\r\n0\r\n\r\n"), 200, True, content=b"hello"),
    Case("chunk size in capital hex", chunked(b"A\r\n0123456789\r\n0\r\n\r\n"), 200, True, content=b"0123456789"),
    Case("chunk data longer than its size", chunked(b"5\r\nhelloEXTRA\r\n0\r\n\r\n"), 400, False),
    Case("chunk data shorter than its size", chunked(b"5\r\nhel\r\n0\r\n\r\n"), 400, False),
    Case("no CRLF after chunk data", chunked(b"5\r\nhello0\r\n\r\n"), 400, False),
    Case("bare LF after chunk size", chunked(b"5\nhello\r\n0\r\n\r\n"), 400, False,
         "RFC 9112 §7.1: chunk lines end in CRLF; a lone LF read two ways is a smuggling vector"),
    Case("bare LF after chunk data", chunked(b"5\r\nhello\n0\r\n\r\n"), 400, False, "RFC 9112 §7.1"),
    Case("bare CR after chunk size", chunked(b"5\rhello\r\n0\r\n\r\n"), 400, False, "RFC 9112 §2.2"),
    Case("bare LF after the last chunk", chunked(b"5\r\nhello\r\n0\n\r\n"), 400, False),
    Case("bare LF ending the trailer section", chunked(b"5\r\nhello\r\n0\r\n\n"), 400, False),
    Case("body ends before the last chunk", chunked(b"5\r\nhello\r\n"), CLOSE, False, eof=True),
    Case("body ends inside a chunk size line", chunked(b"5\r\nhello\r\n1"), CLOSE, False, eof=True),
    Case("body ends inside chunk data", chunked(b"a\r\nhello"), CLOSE, False, eof=True),
    Case("chunk extension", chunked(b"5;name=value\r\nhello\r\n0\r\n\r\n"), 200, True,
         "RFC 9112 §7.1.1: extensions are allowed and ignored", content=b"hello"),
    Case("chunk extension without a value", chunked(b"5;name\r\nhello\r\n0\r\n\r\n"), 200, True, content=b"hello"),
    Case("chunk extension with a quoted value", chunked(b'5;name="a b;c"\r\nhello\r\n0\r\n\r\n'), 200, True,
         content=b"hello"),
    Case("chunk extension with an escaped quote", chunked(b'5;name="a\\"b"\r\nhello\r\n0\r\n\r\n'), 200, True,
         content=b"hello"),
    Case("several chunk extensions", chunked(b"5;a=1;b=2\r\nhello\r\n0;c=3\r\n\r\n"), 200, True, content=b"hello"),
    Case("chunk extension of 512 bytes", chunked(b"5;x=" + b"e" * 512 + b"\r\nhello\r\n0\r\n\r\n"), 200, True,
         content=b"hello"),
    Case("chunk extension that never ends", chunked(b"5;x=" + b"e" * (1 << 20)), 400, False,
         "RFC 9112 §7.1.1: a server ought to limit chunk extensions and answer 4xx past the limit"),
    Case("chunk extension with NUL", chunked(b"5;a=\x00\r\nhello\r\n0\r\n\r\n"), 400, False),
    Case("chunk extension with bare CR", chunked(b"5;a=b\rc\r\nhello\r\n0\r\n\r\n"), 400, False),
    Case("chunk extension with bare LF", chunked(b"5;a=b\nc\r\nhello\r\n0\r\n\r\n"), 400, False),
    Case("chunk extension with DEL", chunked(b"5;a=\x7f\r\nhello\r\n0\r\n\r\n"), 400, False),
    Case("chunk extension with unterminated quote", chunked(b'5;a="xyz\r\nhello\r\n0\r\n\r\n'), 400, False),
    Case("chunked body just past max_body_bytes", chunked(b"200\r\n" + b"a" * 512 + b"\r\n201\r\n" + b"a" * 513
                                                          + b"\r\n0\r\n\r\n"), 413, False),
    Case("chunked body of exactly max_body_bytes", chunked(b"200\r\n" + b"a" * 512 + b"\r\n200\r\n" + b"a" * 512
                                                           + b"\r\n0\r\n\r\n"), 200, True),
    Case("trailer field", chunked(b"5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n"), 200, True, content=b"hello"),
    Case("trailer field is not a header field", chunked(b"0\r\nX-Trailer-Marker: yes\r\n\r\n", b"/headers", b"GET"),
         200, True, "RFC 9110 §6.5.1: trailers must not be merged into the header section",
         absent=b"x-trailer-marker"),
    Case("Host in a trailer is not a second Host", chunked(b"0\r\nHost: evil.example\r\n\r\n", b"/headers", b"GET"),
         200, True, "RFC 9110 §6.5.1", absent=b"evil.example"),
    Case("Content-Length in a trailer", chunked(b"5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n"), 400, False,
         "RFC 9110 §6.5.1 forbids framing fields in trailers; llhttp refuses it as CL with TE"),
    Case("trailer with NUL", chunked(b"0\r\nX-T: a\x00b\r\n\r\n"), 400, False),
    Case("trailer with bare CR", chunked(b"0\r\nX-T: a\rb\r\n\r\n"), 400, False),
    Case("trailer with obs-fold", chunked(b"0\r\nX-T: a\r\n b\r\n\r\n"), 400, False, "RFC 9112 §5.2"),
    Case("trailer without a colon", chunked(b"0\r\nX-T\r\n\r\n"), 400, False),
    Case("trailer with space before the colon", chunked(b"0\r\nX-T : a\r\n\r\n"), 400, False, "RFC 9112 §5.1"),
    Case("trailer field that never ends", chunked(b"0\r\nX-T: " + b"t" * (1 << 20)), 400, False,
         "bounded before the line ends, so the parser never buffers it whole"),
    Case("too many trailer fields", chunked(b"0\r\n" + b"".join(b"X-T%d: v\r\n" % i for i in range(25)) + b"\r\n"),
         431, False, "trailers count against max_headers"),
]

_NON_TOKEN = b'"(),/;<=>?@[\\]{}'
_CONTROL = bytes(b for b in range(0x20) if b not in (0x00, 0x09, 0x0D)) + b"\x7f"  # NUL and CR: tests/core

HEADERS = [
    *[Case(f"header value with byte 0x{b:02x}", header(b"X-A: a" + bytes([b]) + b"b"), 400, False,
           "RFC 9110 §5.5: controls other than HTAB are not field-vchar") for b in _CONTROL],
    Case("header value with HTAB inside", header(b"X-A: a\tb"), 200, True),
    Case("header value with obs-text", header(b"X-A: caf\xe9 \x80\xff"), 200, True, "RFC 9110 §5.5: obs-text"),
    Case("header value in UTF-8", header("X-A: café".encode()), 200, True),
    Case("header value empty", header(b"X-A:"), 200, True, "RFC 9110 §5.5: a field value may be empty"),
    *[Case(f"header name with {chr(b)!r}", header(b"X" + bytes([b]) + b"A: v"), 400, False,
           "RFC 9110 §5.1: a field name is a token") for b in _NON_TOKEN],
    *[Case(f"header name with byte 0x{b:02x}", header(b"X" + bytes([b]) + b"A: v"), 400, False)
      for b in (0x00, 0x01, 0x09, 0x0B, 0x20, 0x7F, 0x80, 0xFF)],
    Case("header name of every token character", header(b"!#$%&'*+-.^_`|~09azAZ: v"), 200, True,
         "RFC 9110 §5.6.2: tchar"),
    Case("header name empty", header(b": v"), 400, False),
    Case("header name of one character", header(b"A: v"), 200, True),
    Case("header line without a colon", header(b"X-A v"), 400, False),
    Case("header with a tab before the colon", header(b"X-A\t: v"), 400, False, "RFC 9112 §5.1"),
    Case("value that starts with a colon", header(b"X-A:: v"), 200, True),
    Case("first header line folded", b"GET /json HTTP/1.1\r\n X-A: v\r\nHost: x\r\n\r\n", 400, False,
         "RFC 9112 §2.2: whitespace before the first field line"),
    Case("obs-fold with a tab", header(b"X-A: a\r\n\tb"), 400, False, "RFC 9112 §5.2"),
    Case("obs-fold in Host", get(headers=b"Host: x\r\n y\r\n"), 400, False, "RFC 9112 §5.2"),
    Case("bare LF ending one header line", b"GET /json HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n", 400, False,
         "RFC 9112 §2.2"),
    Case("bare CR ending a header line", b"GET /json HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", 400, False,
         "RFC 9112 §2.2: a bare CR must be rejected or replaced"),
    Case("CR CR LF", b"GET /json HTTP/1.1\r\nHost: x\r\r\n\r\n", 400, False),
    Case("header section never ends", b"GET /json HTTP/1.1\r\nHost: x\r\n", CLOSE, False, eof=True),
    Case("header line cut in the name", b"GET /json HTTP/1.1\r\nHo", CLOSE, False, eof=True),
    Case("duplicate ordinary fields", header(b"X-A: 1\r\nX-A: 2"), 200, True, "RFC 9110 §5.3"),
    Case("header name longer than max_header_bytes", header(b"X" * 3000 + b": v"), 431, False),
    Case("header value longer than max_header_bytes", header(b"X-A: " + b"v" * 3000), 431, False),
    Case("header section exactly max_header_bytes", header(b"X-Pad: " + b"p" * (2048 - 5 - 5)), 200, True,
         "name and value bytes of every field, Host included"),
    Case("header section one byte past max_header_bytes", header(b"X-Pad: " + b"p" * (2048 - 5 - 4)), 431, False),
    Case("max_headers fields", get(headers=b"Host: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(19))),
         200, True),
    Case("one field past max_headers", get(headers=b"Host: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(20))),
         431, False),
    Case("header value that never ends", b"GET /json HTTP/1.1\r\nHost: x\r\nX-A: " + b"v" * (1 << 20), 431, False,
         "bounded before the line ends, so the parser never buffers it whole"),
    Case("header name that never ends", b"GET /json HTTP/1.1\r\nHost: x\r\n" + b"X" * (1 << 20), 431, False),
    # --- Host (RFC 9112 §3.2) --------------------------------------------------------------
    Case("two identical Host fields", get(headers=b"Host: x\r\nHost: x\r\n"), 400, False,
         "RFC 9112 §3.2: more than one Host field line is a 400"),
    Case("Host and HOST", get(headers=b"Host: x\r\nHOST: x\r\n"), 400, False, "RFC 9112 §3.2"),
    Case("Host empty", get(headers=b"Host:\r\n"), 200, True, "RFC 9112 §3.2: empty when there is no authority"),
    Case("Host with a port", get(headers=b"Host: example.com:8080\r\n"), 200, True),
    Case("Host as an IPv6 literal", get(headers=b"Host: [::1]:8080\r\n"), 200, True),
    Case("Host with a space", get(headers=b"Host: a b\r\n"), 400, False,
         "RFC 9112 §3.2: a Host with an invalid value is a 400"),
    Case("Host with a slash", get(headers=b"Host: a/b\r\n"), 400, False, "RFC 9112 §3.2"),
    Case("Host with userinfo", get(headers=b"Host: user@a\r\n"), 400, False, "RFC 9112 §3.2"),
    Case("Host with a backslash", get(headers=b"Host: a\\b\r\n"), 400, False, "RFC 9112 §3.2"),
    Case("no Host in HTTP/1.0", get(headers=b"", version=b"HTTP/1.0"), 200, False, "Host is required from 1.1 on"),
    Case("two Host fields in HTTP/1.0", get(headers=b"Host: a\r\nHost: b\r\n", version=b"HTTP/1.0"), 400, False,
         "RFC 9112 §3.2 applies to any request message"),
    # --- other fields the server reads ---------------------------------------------------------
    Case("Expect: 100-continue without a body", get(headers=b"Host: x\r\nExpect: 100-continue\r\n"), 200, True),
    Case("unknown Expect", get(headers=b"Host: x\r\nExpect: something\r\n"), 200, True,
         "RFC 9110 §10.1.1: a server MAY answer 417; ignoring it is allowed"),
    Case("Connection: close", get(headers=b"Host: x\r\nConnection: close\r\n"), 200, False),
    Case("HTTP/1.0 without keep-alive", get(version=b"HTTP/1.0"), 200, False),
    Case("HTTP/1.0 with keep-alive", get(headers=b"Host: x\r\nConnection: keep-alive\r\n", version=b"HTTP/1.0"),
         200, True),
]

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2C_UPGRADE = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
TLS_HELLO = bytes.fromhex("16030100a5010000a10303") + bytes(32) + b"\x00\x00\x02\x13\x01\x01\x00"

REQUEST_LINE = [
    # --- the request target (RFC 9112 §3.2) --------------------------------------------------
    Case("target exactly max_url_bytes", get(b"/marker/" + b"u" * (1024 - 8)), 200, True),
    Case("target one byte past max_url_bytes", get(b"/marker/" + b"u" * (1024 - 7)), 414, False),
    Case("query past max_url_bytes", get(b"/json?q=" + b"q" * 2000), 414, False),
    Case("target of one MiB", get(b"/" + b"u" * (1 << 20)), 414, False),
    Case("asterisk-form with OPTIONS", get(b"*", method=b"OPTIONS"), 204, True, "RFC 9112 §3.2.4"),
    Case("asterisk-form with GET", get(b"*"), 400, False, "RFC 9112 §3.2.4: only OPTIONS"),
    Case("asterisk-form with POST", get(b"*", method=b"POST"), 400, False, "RFC 9112 §3.2.4"),
    Case("absolute-form", get(b"http://x/marker/abs"), 200, True, "RFC 9112 §3.2.2", content=b"marker=abs"),
    Case("absolute-form https with a query", get(b"https://x/q?a=1"), 200, True, content=b'{"a":"1"}'),
    Case("absolute-form in capitals", get(b"HTTP://X/marker/up"), 200, True,
         "RFC 3986 §3.1, §6.2.2.1: scheme and host are case-insensitive", content=b"marker=up"),
    Case("absolute-form without a path", get(b"http://x"), 200, True, "RFC 9112 §3.2.2: the path is /",
         content=b"root"),
    Case("absolute-form with another scheme", get(b"ftp://x/json"), 400, False),
    Case("absolute-form with a fragment", get(b"http://x/json#f"), 400, False,
         "RFC 9112 §3.2: a request target has no fragment"),
    Case("absolute-form whose host differs from Host", get(b"http://other/marker/h"), 200, True,
         "RFC 9112 §3.2.2: the target's authority wins", content=b"marker=h"),
    Case("absolute-form without Host", get(b"http://x/json", headers=b""), 400, False,
         "RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400"),
    Case("authority-form with GET", get(b"example.com:80"), 400, False, "RFC 9112 §3.2.3: only CONNECT"),
    Case("authority-form with CONNECT", get(b"example.com:443", method=b"CONNECT"), 400, False,
         "this is not a proxy; the stream after CONNECT cannot be trusted, so close"),
    Case("fragment in origin-form", get(b"/json#frag"), 400, False, "RFC 9112 §3.2.1: origin-form has no fragment"),
    Case("empty fragment", get(b"/json#"), 400, False, "RFC 9112 §3.2.1"),
    Case("query only, no path", get(b"?a=1"), 400, False, "RFC 9112 §3.2.1: origin-form starts with /"),
    Case("target of a dot", get(b"."), 400, False),
    Case("double slash", get(b"//json"), 404, True),
    Case("empty query", get(b"/json?"), 200, True),
    Case("dot segments are not resolved", get(b"/marker/../json"), 404, True),
    Case("space inside the target", get(b"/js on"), 400, False),
    Case("tab inside the target", get(b"/js\ton"), 400, False),
    Case("NUL inside the target", get(b"/js\x00on"), 400, False),
    Case("DEL inside the target", get(b"/js\x7fon"), 400, False),
    Case("raw UTF-8 in the target", get("/marker/café".encode()), 400, False,
         "RFC 3986 §2: non-ASCII must be percent-encoded"),
    # --- percent-encoding and UTF-8 in the path ---------------------------------------------
    Case("lone percent at the end", get(b"/marker/a%"), 400, True),
    Case("percent and one digit", get(b"/marker/a%2"), 400, True),
    Case("percent with a non-hex digit", get(b"/marker/%g0"), 400, True),
    Case("percent-encoded NUL", get(b"/marker/a%00b"), 400, True, "a NUL in a path truncates it in C APIs"),
    Case("overlong UTF-8 slash", get(b"/marker/%c0%af"), 400, True, "RFC 3629 §3: overlong forms are invalid"),
    Case("UTF-8 surrogate", get(b"/marker/%ed%a0%80"), 400, True, "RFC 3629 §3: surrogates are invalid"),
    Case("lone UTF-8 continuation byte", get(b"/marker/%80"), 400, True),
    Case("UTF-8 cut short", get(b"/marker/%e2%82"), 400, True),
    Case("UTF-8 past U+10FFFF", get(b"/marker/%f4%90%80%80"), 400, True),
    Case("valid percent-encoded UTF-8", get(b"/marker/caf%C3%A9"), 200, True, content="marker=café".encode()),
    Case("encoded slash stays in its segment", get(b"/marker/a%2Fb"), 200, True, content=b"marker=a/b"),
    Case("invalid UTF-8 in the query", get(b"/q?a=%ff"), 400, True),
    Case("bad percent-escape in the query", get(b"/q?a=%zz"), 200, True, "kept as written, as browsers do",
         content=b'{"a":"%zz"}'),
    # --- the method (RFC 9110 §9, RFC 9112 §3.1) ---------------------------------------------
    Case("lowercase method", get(method=b"get"), 400, False, "RFC 9110 §9.1: methods are case-sensitive"),
    Case("method GETT", get(method=b"GETT"), 400, False),
    Case("method with NUL", get(method=b"G\x00T"), 400, False),
    Case("method with a slash", get(method=b"GE/T"), 400, False),
    Case("method of 100 letters", get(method=b"A" * 100), 400, False),
    Case("method of 100 KiB", get(method=b"A" * 102400), 400, False),
    Case("no method", b" /json HTTP/1.1\r\nHost: x\r\n\r\n", 400, False),
    Case("space before the method", b" GET /json HTTP/1.1\r\nHost: x\r\n\r\n", 400, False),
    Case("TRACE is not echoed", get(method=b"TRACE"), 405, True),
    Case("PROPFIND", get(method=b"PROPFIND"), 405, True),
    # --- the version (RFC 9112 §2.3) -----------------------------------------------------------
    Case("HTTP/1.2", get(version=b"HTTP/1.2"), 505, False),
    Case("HTTP/2.0 request line", get(version=b"HTTP/2.0"), 505, False),
    Case("HTTP/3.0 request line", get(version=b"HTTP/3.0"), 505, False),
    Case("HTTP/0.9 version", get(version=b"HTTP/0.9"), 505, False),
    Case("HTTP/10.1", get(version=b"HTTP/10.1"), 400, False, "RFC 9112 §2.3: one digit each"),
    Case("lowercase http/1.1", get(version=b"http/1.1"), 400, False, "RFC 9112 §2.3: case-sensitive"),
    Case("HTTP/1 without minor", get(version=b"HTTP/1"), 400, False),
    Case("HTTP/1.1.1", get(version=b"HTTP/1.1.1"), 400, False),
    Case("HTTPS/1.1", get(version=b"HTTPS/1.1"), 400, False),
    Case("version missing after HTTP/", get(version=b"HTTP/"), 400, False),
    Case("space after the version", b"GET /json HTTP/1.1 \r\nHost: x\r\n\r\n", 400, False),
    Case("two spaces before the target", b"GET  /json HTTP/1.1\r\nHost: x\r\n\r\n", 200, True,
         "RFC 9112 §3: a recipient MAY split the request line on runs of whitespace; not ambiguous"),
    Case("tab between method and target", b"GET\t/json HTTP/1.1\r\nHost: x\r\n\r\n", 400, False),
    Case("HTTP/0.9 request line", b"GET /json\r\n\r\n", 505, False, "RFC 9110 §15.6.6: HTTP/0.9 is not served"),
    Case("HTTP/0.9 request line then EOF", b"GET /json\r\n", CLOSE, False, eof=True),
    Case("one empty line before the request", b"\r\n" + GET, 200, True, "RFC 9112 §2.2: SHOULD ignore it"),
    Case("three empty lines before the request", b"\r\n\r\n\r\n" + GET, 200, True, "RFC 9112 §2.2"),
    # --- other protocols on the HTTP/1.1 port ----------------------------------------------------
    Case("HTTP/2 preface and a SETTINGS frame", H2_PREFACE + bytes.fromhex("000000040000000000"), 400, False,
         "RFC 9113 §3.3: prior knowledge on a server that only speaks HTTP/1.1"),
    Case("HTTP/2 preface split", (H2_PREFACE[:7], H2_PREFACE[7:]), 400, False),
    Case("h2c upgrade", get(headers=b"Host: x\r\n" + H2C_UPGRADE), 200, False,
         "RFC 9110 §7.8: the server may ignore Upgrade; what follows may not be HTTP/1.1, so close"),
    Case("h2c upgrade with a body", post(H2C_UPGRADE + b"Content-Length: 5\r\n", b"hello"), 501, False,
         "the parser skips the body of an Upgrade request; answering it would act on half a request"),
    Case("h2c upgrade with a chunked body", post(H2C_UPGRADE + TE, b"5\r\nhello\r\n0\r\n\r\n"), 501, False,
         "as above"),
    Case("h2c upgrade after a pipelined request", GET + post(H2C_UPGRADE + b"Content-Length: 5\r\n", b"hello"),
         (200, 501), False, "the request before it is still answered"),
    Case("websocket upgrade", get(headers=b"Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"), 200, False,
         "RFC 9110 §7.8"),
    Case("Upgrade without Connection: upgrade", get(headers=b"Host: x\r\nUpgrade: h2c\r\n"), 200, True,
         "RFC 9110 §7.8: Upgrade counts only when listed in Connection"),
    Case("TLS ClientHello on the plain port", TLS_HELLO, 400, False),
    Case("binary garbage", bytes(range(256)), 400, False),
    Case("nothing at all", b"", CLOSE, False, eof=True),
    Case("only empty lines", b"\r\n\r\n", CLOSE, False, eof=True),
]

PIPELINES = [
    Case("three pipelined requests", b"GET /marker/1 HTTP/1.1\r\nHost: x\r\n\r\n"
         b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi" + chunked(b"2\r\nho\r\n0\r\n\r\n"),
         (200, 200, 200), True, content=b"marker=1"),
    Case("valid request then NUL bytes", GET + b"\x00" * 16, (200, 400), False),
    Case("valid request then binary garbage", GET + bytes(range(128, 256)), (200, 400), False),
    Case("valid request then an HTTP/2 preface", GET + H2_PREFACE, (200, 400), False),
    Case("valid request then a TLS ClientHello", GET + TLS_HELLO, (200, 400), False),
    Case("valid POST then garbage", cl(b"5") + b"\x16\x03\x01garbage\r\n\r\n", (200, 400), False, content=b"hello"),
    Case("valid chunked POST then garbage", chunked(b"5\r\nhello\r\n0\r\n\r\n") + b"HELLO WORLD\r\n\r\n",
         (200, 400), False, content=b"hello"),
    Case("garbage then a valid request", b"BROKEN\r\n\r\n" + SMUGGLED, 400, False, absent=SMUGGLED_ANSWER),
    Case("a suspending request then garbage", b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01\x02", (200, 400),
         False, "the queued answer goes first, then the 400", content=b"slept"),
    Case("valid request then a cut-off one", GET + b"GET /json HTTP/1.1\r\nHo", 200, False, eof=True),
    Case("a suspending request then EOF", b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n", 200, False,
         "RFC 9112 §9.6: after the client's half-close, answer and close", eof=True, content=b"slept"),
    Case("two requests then EOF", GET + GET, (200, 200), False, eof=True),
]


def _every_split(name: str, data: bytes, content: bytes | None) -> list[Case]:
    return [Case(f"{name} split at byte {i}", (data[:i], data[i:]), 200, True, content=content)
            for i in range(1, len(data))]


_SPLIT_GET = b"GET /marker/s HTTP/1.1\r\nHost: x\r\n\r\n"
_SPLIT_CHUNKED = chunked(b"5;e=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n")

SPLITS = [
    *_every_split("GET", _SPLIT_GET, b"marker=s"),
    *_every_split("chunked POST", _SPLIT_CHUNKED, b"hello"),
    Case("GET one byte per segment", tuple(bytes([b]) for b in _SPLIT_GET), 200, True, content=b"marker=s"),
    Case("chunked POST one byte per segment", tuple(bytes([b]) for b in _SPLIT_CHUNKED), 200, True,
         content=b"hello"),
    Case("Content-Length body one byte per segment", tuple(bytes([b]) for b in cl(b"5")), 200, True,
         content=b"hello"),
    Case("pipelined pair split inside the second request line",
         (GET + b"GET /mar", b"ker/2 HTTP/1.1\r\nHost: x\r\n\r\n"), (200, 200), True),
    Case("body and the next request in one segment", (post(b"Content-Length: 5\r\n"), b"hello" + GET),
         (200, 200), True, content=b"hello"),
]

CORPUS: list[Case] = SMUGGLING + CHUNKS + HEADERS + REQUEST_LINE + PIPELINES + SPLITS
