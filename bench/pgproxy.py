"""A TCP proxy in front of Postgres that stages an outage cleanly, for bench/drills.py.

`cut()` resets every open connection at once (RST, as a crashed server's host would) and
refuses new ones until `restore()`. One asyncio loop in one thread owns every socket, so a
cut never races a forwarding thread: unlike closing a socket from another thread while a
thread is blocked in recv() on it (tests/support/tcp_proxy.py), which on Linux leaves the
connection open until the next byte arrives, and can leave one hanging for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from typing import Any

from bench.engine import free_port


class OutageProxy:
    """Forwards 127.0.0.1:<port> to (host, port); `cut()` / `restore()` from any thread."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.open = True
        self.cuts = 0
        self.reset = 0  # connections reset by cuts
        self.refused = 0  # connections refused during cuts
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="pg-outage-proxy", daemon=True)

    def start(self) -> OutageProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def cut(self) -> None:
        """Postgres is gone: every open connection is reset, new ones are refused."""
        asyncio.run_coroutine_threadsafe(self._cut(), self._loop).result(10)

    def restore(self) -> None:
        """Postgres is back."""
        self._loop.call_soon_threadsafe(setattr, self, "open", True)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        self.open = False
        self.cuts += 1
        pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            for writer in pair:
                _abort(writer)
            self.reset += 1

    async def _close(self) -> None:
        await self._cut()
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            self.refused += 1
            _abort(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _abort(writer)
            return
        if not self.open:  # cut while connecting upstream
            self.refused += 1
            _abort(writer)
            _abort(up_writer)
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        finally:
            self._pairs.discard(pair)
            _abort(writer)
            _abort(up_writer)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError, RuntimeError):
        pass
    finally:
        _abort(writer)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a reset (SO_LINGER 0), not an orderly FIN."""
    transport: Any = writer.transport
    if transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
