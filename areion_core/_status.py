"""Status phrases as RFC 9110 §15 names them, whatever the Python version.

``http.HTTPStatus`` before Python 3.13 keeps the RFC 7231 / RFC 2616 names for a few statuses
("Unprocessable Entity", "Request Entity Too Large"), so a problem's ``title`` would change
with the interpreter. Every phrase the framework writes into a body comes from here.
"""

from __future__ import annotations

from http import HTTPStatus

#: RFC 9110's names where older Pythons differ.
_RFC9110 = {
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}


def status_phrase(code: int) -> str | None:
    """The reason phrase of ``code`` (RFC 9110), or None for an unregistered status."""
    phrase = _RFC9110.get(code)
    if phrase is not None:
        return phrase
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return None
