"""What changes when a response is sent encoded: body, headers, ETag, extensions."""

from __future__ import annotations

from areion_core import HttpResponse, MutableHeaders


def suffix_etag(etag: str, encoding: str) -> str:
    """Make an entity tag distinct per coding: ``"abc"`` → ``"abc-br"``, ``W/"abc"`` → ``W/"abc-br"``.

    RFC 9110 §8.8.3 requires a strong ETag to differ between representations whose bytes
    differ, and the gzip and brotli forms of one resource are different representations.
    Weak tags are suffixed too: a shared cache that revalidates several stored variants at
    once picks the one to serve by the ETag of the 304 (RFC 9111 §4.3.4), so equal tags
    could make it hand brotli bytes to a client that asked for gzip.
    """
    etag = etag.strip()
    if len(etag) >= 2 and etag.endswith('"'):
        return f'{etag[:-1]}-{encoding}"'
    return f"{etag}-{encoding}"  # not a valid entity-tag; still make it differ


def buffered_response(response: HttpResponse, body: bytes, encoding: str) -> HttpResponse:
    """A new response carrying ``body`` (already compressed) and the original's headers.

    A new object rather than an edit: handlers may return a shared, prebuilt response, and
    compressing that in place would hand brotli to the next identity client.
    """
    new = HttpResponse(body, response.status_code)
    new.headers = encoded_headers(response, encoding)
    copy_extras(response, new, encoding)
    return new


def encoded_headers(response: HttpResponse, encoding: str) -> MutableHeaders:
    """A copy of the response's headers describing the ``encoding`` representation."""
    headers = response.headers.copy()
    etag = headers.get("etag")
    if etag is not None:
        headers["etag"] = suffix_etag(etag, encoding)
    mark_encoded_headers(headers, encoding)
    return headers


def mark_encoded_headers(headers: MutableHeaders, encoding: str) -> None:
    """Set ``Content-Encoding`` and drop what described the unencoded bytes."""
    headers["content-encoding"] = encoding
    # The core frames the body from its real length; a handler's value is now wrong.
    headers.pop("content-length", None)
    # Byte ranges of an encoded variant are not served: ranges always address identity.
    headers.pop("accept-ranges", None)


def copy_extras(source: HttpResponse, target: HttpResponse, encoding: str) -> None:
    """Carry cookies and plugin extensions over, and record the coding for other plugins."""
    if source.cookies:
        target.cookies = list(source.cookies)
    target.extensions = dict(source.extensions) if source.extensions else {}
    target.extensions["compression.encoding"] = encoding
