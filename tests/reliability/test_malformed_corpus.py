"""Every case of the malformed-input corpus against one real server over real sockets.

For each case: the answers (or the close) are what ``corpus.py`` says, never a 5xx, never a
hang; then a normal request is answered correctly on the same connection when the case
keeps it open, else on a fresh one, so nothing the case sent can leak into the next answer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from areion_core.runner import ServerThread
from tests.reliability._raw_http import ErrorLog, RawConnection, follow_up, fresh_follow_up, serve, status_line
from tests.reliability.corpus import CLOSE, CORPUS, LIMITS, Case


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ServerThread, ErrorLog]]:
    with serve(LIMITS) as running:
        yield running


def _expected(case: Case) -> tuple[int, ...]:
    if case.expect == CLOSE:
        return ()
    return (case.expect,) if isinstance(case.expect, int) else tuple(case.expect)  # type: ignore[arg-type]


def test_corpus_is_large_and_names_are_unique() -> None:
    assert len(CORPUS) >= 200
    assert len({case.name for case in CORPUS}) == len(CORPUS)
    assert all(not (case.keeps_open and (case.eof or case.expect == CLOSE)) for case in CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_malformed_input(server: tuple[ServerThread, ErrorLog], case: Case) -> None:
    thread, errors = server
    token = f"after{CORPUS.index(case)}"
    expected = _expected(case)
    data = case.data if isinstance(case.data, bytes) else b"".join(case.data)
    with RawConnection(thread.port) as conn:
        conn.send(case.data)
        if case.eof or case.expect == CLOSE:
            conn.half_close()
        answers = []
        for _ in expected:
            response = conn.response(head_request=data.startswith(b"HEAD "))
            if response is None:
                break
            answers.append(response)
        seen = [r.status_code for r in answers]
        assert seen == list(expected), f"answers {[status_line(r) for r in answers]}, wire {conn.received[:300]!r}"
        if case.content is not None:
            assert answers[0].content == case.content
        if case.keeps_open:
            follow_up(conn, token)
        else:
            extra = conn.until_closed()
            assert extra == b"", f"more bytes after the final answer (a desync): {extra[:300]!r}"
            if answers and answers[-1].status_code >= 400:
                assert answers[-1].headers.get("connection") == "close"
        if case.absent:
            assert case.absent.lower() not in conn.received.lower()
    if not case.keeps_open:
        fresh_follow_up(thread.port, token)
    assert errors.take() == []
