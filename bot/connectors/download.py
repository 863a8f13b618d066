"""Downloading a message's bytes over HTTP, with a size limit: shared by the connectors whose
platform hands out a URL (WeChat's URL FileBoxes, OneBot's image and file URLs)."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from bot.connectors.base import FetchError

_CHUNK = 64 * 1024


async def download(
    session: aiohttp.ClientSession,
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """The body of GET `url`; `FetchError` on a non-200 answer, a failure, or more than
    `max_bytes` (stopped there, not read to the end)."""
    if not url.startswith(("http://", "https://")):
        raise FetchError(f"no usable URL for the file ({url[:80]!r})")
    chunks: list[bytes] = []
    size = 0
    try:
        async with session.get(
            url, headers=dict(headers or {}), timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            if response.status != 200:
                raise FetchError(f"downloading the file gave HTTP {response.status}")
            async for chunk in response.content.iter_chunked(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"the file is larger than {max_bytes} bytes")
                chunks.append(chunk)
    except (aiohttp.ClientError, TimeoutError) as error:
        raise FetchError(f"downloading the file failed: {error!r}") from None
    return b"".join(chunks)
