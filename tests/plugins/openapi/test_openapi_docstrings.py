"""Docstring parsing: summary, description, Args/Parameters, Returns, Raises."""

from __future__ import annotations

from areion_openapi.docstrings import parse_docstring


def test_google_style() -> None:
    doc = parse_docstring("""Fetch a user.

    Looks the user up by id. Deleted users are not returned.

    Second paragraph.

    Args:
        request: The request.
        id (int): The user's id,
            which is positive.
        verbose: Include the address.

    Returns:
        User: the user that was found.

    Raises:
        NotFoundError: No user has this id.
    """)
    assert doc.summary == "Fetch a user."
    assert doc.description == "Looks the user up by id. Deleted users are not returned.\n\nSecond paragraph."
    assert doc.params == {"request": "The request.", "id": "The user's id, which is positive.",
                          "verbose": "Include the address."}
    assert doc.returns == "the user that was found."
    assert doc.raises == {"NotFoundError": "No user has this id."}


def test_parameters_header_and_summary_only() -> None:
    doc = parse_docstring("""List items.
    Parameters:
        limit: At most this many.
    """)
    assert doc.summary == "List items."
    assert doc.description is None
    assert doc.params == {"limit": "At most this many."}


def test_numpy_style() -> None:
    doc = parse_docstring("""Search.

    Parameters
    ----------
    q : str
        The words to look for.
    page : int
        Which page.

    Returns
    -------
    list
        The hits.
    """)
    assert doc.summary == "Search."
    assert doc.params == {"q": "The words to look for.", "page": "Which page."}
    assert doc.returns == "The hits."


def test_empty_and_missing() -> None:
    assert parse_docstring(None).summary is None
    assert parse_docstring("   ").params == {}
    one = parse_docstring("Just a line.")
    assert (one.summary, one.description, one.returns) == ("Just a line.", None, None)


def test_unknown_section_names_stay_in_the_description() -> None:
    doc = parse_docstring("""Do it.

    Usage: call it with care.
    Example:
        >>> do_it()
    """)
    assert doc.description == "Usage: call it with care."
