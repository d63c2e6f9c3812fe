"""Every client a test made through get_client is closed in the test's own event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from areion_redis import close_clients


@pytest.fixture
async def clients_closed() -> AsyncIterator[None]:
    yield
    await close_clients()
