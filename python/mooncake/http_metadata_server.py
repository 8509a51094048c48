"""A stand-alone HTTP metadata server for the transfer engine.

The master embeds one (``--enable_http_metadata_server``); this module is
the reference's Python one, for deployments that run it on its own:

    python -m mooncake.http_metadata_server --port 8080
    mooncake_http_metadata_server --port 8080 --host 127.0.0.1

It keeps key/value pairs in memory under ``/metadata?key=K``: GET reads,
PUT writes (the body), DELETE removes. Needs aiohttp.
"""

import argparse
import asyncio
import logging
import signal
import sys
import threading
from enum import Enum

from aiohttp import web

_log = logging.getLogger(__name__)

_JSON = "application/json"


class KVPoll(Enum):
    Failed = 0
    Bootstrapping = 1
    WaitingForInput = 2
    Transferring = 3
    Success = 4


class KVBootstrapServer:
    """An in-memory metadata store served over HTTP on its own thread."""

    def __init__(self, port: int, host: str = "0.0.0.0"):
        self.port = port
        self.host = host
        self.store = {}
        self.lock = None  # created on the server's event loop
        self.loop = None
        self.thread = None
        self.runner = None
        self._started = threading.Event()
        self._start_error = None

    def _reply(self, status, body):
        # The reference labels every answer JSON, plain text included.
        if isinstance(body, str):
            body = body.encode()
        return web.Response(status=status, body=body, content_type=_JSON)

    async def _handle_metadata(self, request):
        key = request.query.get("key", "").strip()
        if not key:
            return self._reply(400, "metadata key is required")
        if request.method == "GET":
            async with self.lock:
                value = self.store.get(key)
            if value is None:
                return self._reply(404, "metadata not found")
            return self._reply(200, value)
        if request.method == "PUT":
            data = await request.read()
            async with self.lock:
                if "rpc_meta" in key and key in self.store:
                    return self._reply(400, "Duplicate rpc_meta key not allowed")
                self.store[key] = data
            return self._reply(200, "metadata updated")
        if request.method == "DELETE":
            async with self.lock:
                removed = self.store.pop(key, None)
            if removed is None:
                return self._reply(404, "metadata not found")
            return self._reply(200, "metadata deleted")
        return self._reply(405, "Method not allowed")

    async def _start(self):
        self.lock = asyncio.Lock()
        app = web.Application()
        app.router.add_route("*", "/metadata", self._handle_metadata)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port)
        await site.start()

    def _serve(self):
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except Exception as error:  # bind failures end the thread
            self._start_error = error
            _log.error("metadata server on %s:%d failed to start: %s", self.host, self.port,
                       error)
            self._started.set()
            return
        _log.info("metadata server listening on http://%s:%d/metadata", self.host, self.port)
        self._started.set()
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.runner.cleanup())
            self.loop.close()

    def run(self):
        """Starts serving on a daemon thread and returns the thread."""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        self._started.wait(timeout=10)
        return self.thread

    def close(self):
        """Stops the server and joins its thread (2 s at most)."""
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        if self.thread is not None:
            self.thread.join(timeout=2)

    def poll(self) -> KVPoll:
        if self.thread is None or not self.thread.is_alive() or self._start_error is not None:
            return KVPoll.Failed
        return KVPoll.Success


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Mooncake HTTP metadata server",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")
    parser.add_argument("--host", type=str, default="0.0.0.0", help="address to bind")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                        help="logging level")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = KVBootstrapServer(port=args.port, host=args.host)
    thread = server.run()
    if server.poll() != KVPoll.Success:
        sys.exit(1)

    def stop(signum, frame):
        _log.info("signal %d: stopping", signum)
        server.close()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while thread.is_alive():
        thread.join(timeout=1)


if __name__ == "__main__":
    main()
