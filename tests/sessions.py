"""A person's own Salesforce session in a sandbox: their edits carry their LastModifiedById, not q2c's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from q2c_sandbox.local import LocalSandboxes

API = "/services/data/v59.0"


@asynccontextmanager
async def person_session(
    sandboxes: LocalSandboxes, username: str
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """An HTTP client on the REST API as the active User ``username`` (created beforehand), and its Id."""
    session = sandboxes.sf_admin.login_as(username)
    async with httpx.AsyncClient(
        base_url=session["instance_url"],
        headers={"Authorization": f"Bearer {session['access_token']}"},
        verify=str(sandboxes.cert.ca_path),
        timeout=30,
    ) as http:
        yield http, session["user_id"]
