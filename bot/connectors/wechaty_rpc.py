"""Puppet-service RPCs that python-wechaty 0.10.7 lacks or makes without a deadline.

Current puppet services (npm `wechaty-puppet-service` 1.x) hand any file over 20 KB to the
client as a UUID FileBox (`{"type": 7, "uuid": ...}`) whose bytes come from the server-streaming
RPC `/wechaty.Puppet/Download`; the Python `wechaty-grpc` 0.20 stubs predate it. Its two
messages have one field each, declared here with betterproto like the stubs' own.
"""

from __future__ import annotations

from dataclasses import dataclass

import betterproto
from grpclib.client import Channel
from grpclib.const import Cardinality
from wechaty_grpc.wechaty.puppet import VersionRequest, VersionResponse

DOWNLOAD_METHOD = "/wechaty.Puppet/Download"
VERSION_METHOD = "/wechaty.Puppet/Version"


@dataclass(eq=False, repr=False)
class DownloadRequest(betterproto.Message):
    id: str = betterproto.string_field(1)
    """The UUID of the FileBox."""


@dataclass(eq=False, repr=False)
class DownloadResponse(betterproto.Message):
    chunk: bytes = betterproto.bytes_field(1)


class TooLargeError(ValueError):
    """The download went over its size limit."""


def auth_metadata(token: str) -> dict[str, str]:
    """How a puppet service checks the token (python-wechaty also puts it in :authority)."""
    return {"authorization": f"Wechaty {token}"}


async def download_uuid(
    channel: Channel, token: str, uuid: str, *, max_bytes: int, timeout: float
) -> bytes:
    """The bytes behind a UUID FileBox, streamed from the puppet service.

    Raises `TooLargeError` past `max_bytes`, `grpclib.GRPCError` when the service refuses (an
    unknown or expired UUID), `TimeoutError`/`OSError` when it does not answer.
    """
    chunks: list[bytes] = []
    size = 0
    async with channel.request(
        DOWNLOAD_METHOD,
        Cardinality.UNARY_STREAM,
        DownloadRequest,
        DownloadResponse,
        timeout=timeout,
        metadata=auth_metadata(token),
    ) as stream:
        await stream.send_message(DownloadRequest(id=uuid), end=True)
        async for reply in stream:
            size += len(reply.chunk)
            if size > max_bytes:  # leaving the stream with an error resets it
                raise TooLargeError(f"more than {max_bytes} bytes")
            chunks.append(reply.chunk)
    return b"".join(chunks)


async def service_version(host: str, port: int, token: str, *, timeout: float) -> str:
    """Asks the service its version on a fresh connection: proves that it is reachable, speaks
    gRPC and accepts the token, within `timeout` (python-wechaty's own calls have no deadline).
    """
    channel = Channel(host=host, port=port)
    try:
        async with channel.request(
            VERSION_METHOD,
            Cardinality.UNARY_UNARY,
            VersionRequest,
            VersionResponse,
            timeout=timeout,
            metadata=auth_metadata(token),
        ) as stream:
            await stream.send_message(VersionRequest(), end=True)
            reply = await stream.recv_message()
        return reply.version if reply is not None else ""
    finally:
        channel.close()
