"""A REST front end of the store: one store client served over HTTP.

    mc_store_rest_server --config store.json --port 8080
    MOONCAKE_MASTER=127.0.0.1:50051 python -m mooncake.mooncake_store_service

The configuration comes from ``--config`` (a JSON file, see
``mooncake.mooncake_config``) or the ``MOONCAKE_*`` environment; ``-D
key=value`` overrides one field. Endpoints (JSON answers unless noted):

    PUT    /api/put           {"key": K, "value": V}  stores V's UTF-8 bytes
    GET    /api/get/{key}     the raw bytes (application/octet-stream)
    GET    /api/exist/{key}   {"exists": bool}
    DELETE /api/remove/{key}
    DELETE /api/remove_all
    POST   /api/mount_shm, /api/unmount_shm, /api/mount, /api/unmount,
           /api/unmount_local_disk, /api/reconfigure  segment management

Needs aiohttp.
"""

import argparse
import asyncio
import logging
import os
import signal

from aiohttp import web

from mooncake.mooncake_config import MooncakeConfig
from mooncake.store import MooncakeDistributedStore

_log = logging.getLogger(__name__)

_MAX_BODY = 100 * 1024 * 1024


def _error(status, message, **extra):
    return web.json_response({"error": message, **extra}, status=status)


def _segment_ids(body):
    ids = body.get("segment_ids") if isinstance(body, dict) else None
    if isinstance(ids, str):
        ids = [ids]
    return ids or None


def _shm_path(name):
    if not isinstance(name, str):
        return None
    if name.startswith("/"):
        name = name[1:]
    if not name or "/" in name or name in (".", ".."):
        return None
    return "/dev/shm/" + name


def _is_json_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


class MooncakeStoreService:
    """Owns the store client and answers the REST requests with it."""

    def __init__(self, config: MooncakeConfig):
        self.config = config
        self.store = None
        self.mode = "prefill"
        self.decode_segment_ids = []

    def _setup_dict(self):
        config = self.config
        return {
            "local_hostname": config.local_hostname,
            "metadata_server": config.metadata_server,
            "global_segment_size": config.global_segment_size,
            "local_buffer_size": config.local_buffer_size,
            "protocol": config.protocol,
            "rdma_devices": config.device_name or "",
            "master_server_addr": config.master_server_address,
            "enable_ssd_offload": config.enable_ssd_offload,
            "ssd_offload_path": config.ssd_offload_path,
            "tenant_id": config.tenant_id,
            "enable_client_http_server": config.enable_client_http_server,
            "client_http_port": config.client_http_port,
        }

    async def start_store_service(self, max_wait_time=60.0, stop_event=None):
        """Sets the store up, retrying every second for max_wait_time s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait_time
        while True:
            store = MooncakeDistributedStore()
            try:
                code = await loop.run_in_executor(None, store.setup, self._setup_dict())
            except Exception as error:  # a bad config value raises
                _log.warning("store setup raised: %s", error)
                code = -1
            if code == 0:
                self.store = store
                _log.info("store set up against master %s", self.config.master_server_address)
                return
            _log.warning("store setup returned %s; retrying", code)
            if stop_event is not None and stop_event.is_set():
                return  # SIGINT/SIGTERM while retrying: a clean shutdown
            if loop.time() >= deadline:
                raise RuntimeError("Failed to start store service")
            if stop_event is None:
                await asyncio.sleep(1)
                continue
            try:
                await asyncio.wait_for(stop_event.wait(), timeout=1)
                return
            except asyncio.TimeoutError:
                pass

    def close(self):
        if self.store is not None:
            self.store.close()
            self.store = None

    async def _run(self, method, *args):
        return await asyncio.get_running_loop().run_in_executor(None, method, *args)

    # ---- objects -------------------------------------------------------

    async def handle_put(self, request):
        body = await request.json()
        key = body.get("key") if isinstance(body, dict) else None
        value = body.get("value") if isinstance(body, dict) else None
        if not key or value is None:
            return _error(400, "Missing key or value")
        # As the reference: the value is text, stored UTF-8 encoded; anything
        # else fails in .encode() and the middleware answers 500.
        code = await self._run(self.store.put, key, value.encode())
        if code != 0:
            return _error(500, "PUT operation failed")
        return web.json_response({"status": "success"})

    async def handle_get(self, request):
        key = request.match_info["key"]
        exists = await self._run(self.store.is_exist, key)
        if exists < 0:
            return _error(500, "Exist check failed")
        if exists == 0:
            return _error(404, "Key not found")
        value = await self._run(self.store.get, key)
        if not value and await self._run(self.store.is_exist, key) == 0:
            return _error(404, "Key not found")
        return web.Response(body=value, content_type="application/octet-stream")

    async def handle_exist(self, request):
        exists = await self._run(self.store.is_exist, request.match_info["key"])
        if exists < 0:
            return _error(500, "Exist check failed")
        return web.json_response({"exists": exists > 0})

    async def handle_remove(self, request):
        code = await self._run(self.store.remove, request.match_info["key"])
        if code != 0:
            return _error(500, "Remove operation failed")
        return web.json_response({"status": "success"})

    async def handle_remove_all(self, request):
        removed = await self._run(self.store.remove_all)
        if removed < 0:
            return _error(500, "RemoveAll operation failed")
        return web.json_response({"status": f"success removed {removed} keys"})

    # ---- segments ------------------------------------------------------

    async def handle_mount_shm(self, request):
        body = await request.json()
        path = _shm_path(body.get("name")) if isinstance(body, dict) else None
        size = body.get("size") if isinstance(body, dict) else None
        if path is None or not _is_json_int(size):
            return _error(400, "Missing or invalid name or size")
        result = await self._run(self.store.mount_segment, path, size, body.get("offset", 0),
                                 body.get("protocol", self.config.protocol),
                                 body.get("location", ""))
        if result.get("ret") != 0:
            return _error(500, f"Mount failed, ret={result.get('ret')}")
        return web.json_response({"status": "success", "segment_ids": result["segment_ids"]})

    async def handle_unmount_shm(self, request):
        body = await request.json()
        ids = _segment_ids(body)
        if ids is None:
            return _error(400, "Missing segment_ids")
        grace = body.get("grace_period_seconds", 0)
        failed = []
        for segment_id in ids:
            if await self._run(self.store.unmount_segment, [segment_id], grace) != 0:
                failed.append(segment_id)
            elif segment_id in self.decode_segment_ids:
                self.decode_segment_ids.remove(segment_id)
        if not self.decode_segment_ids:
            self.mode = "prefill"
        if failed:
            return _error(500, "Unmount failed for one or more segments",
                          failed_segment_ids=failed)
        return web.json_response({"status": "success"})

    async def handle_mount(self, request):
        body = await request.json()
        size = body.get("size") if isinstance(body, dict) else None
        if not _is_json_int(size) or size <= 0:
            return _error(400, "Invalid size, must be a positive integer")
        result = await self._run(self.store.allocate_and_mount_segment, size,
                                 body.get("protocol", self.config.protocol),
                                 body.get("location", ""))
        if result.get("ret") != 0:
            return _error(500, f"Allocate and mount failed, ret={result.get('ret')}")
        return web.json_response({"status": "success", "segment_ids": result["segment_ids"],
                                  "allocated_size": result.get("allocated_size", size)})

    async def handle_unmount(self, request):
        body = await request.json()
        ids = _segment_ids(body)
        if ids is None:
            return _error(400, "Missing segment_ids")
        code = await self._run(self.store.unmount_and_free_segment, ids,
                               body.get("grace_period_seconds", 0))
        if code != 0:
            return _error(500, f"Unmount and free failed, ret={code}")
        return web.json_response({"status": "success"})

    async def handle_unmount_local_disk(self, request):
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            return _error(400, "Malformed JSON body")
        if not isinstance(body, dict):
            return _error(400, "Request body must be a JSON object")
        grace = body.get("grace_period_seconds", 0)
        if not _is_json_int(grace) or not 0 <= grace <= 3600:
            return _error(400, "grace_period_seconds must be an integer in [0, 3600]")
        unmount = getattr(self.store, "unmount_local_disk_segment", None)
        code = 0 if unmount is None else await self._run(unmount, grace)
        if code != 0:
            return _error(500, f"Unmount local disk failed, ret={code}")
        return web.json_response({"status": "success"})

    async def handle_reconfigure(self, request):
        body = await request.json()
        mode = str(body.get("mode", "")).lower() if isinstance(body, dict) else ""
        if mode == "decode":
            return await self._reconfigure_decode(body)
        if mode == "prefill":
            if self.decode_segment_ids:
                code = await self._run(self.store.unmount_segment, list(self.decode_segment_ids),
                                       0)
                if code != 0:
                    return _error(500, f"Unmount failed, ret={code}")
            self.decode_segment_ids = []
            self.mode = "prefill"
            return web.json_response({"status": "success", "mode": "prefill"})
        return _error(400, "Invalid mode. Use 'decode' or 'prefill'")

    async def _reconfigure_decode(self, body):
        path, size = body.get("path"), body.get("size")
        if not path or size is None:
            return _error(400, "Missing path or size for decode mode")
        result = await self._run(self.store.mount_segment, path, size, body.get("offset", 0),
                                 body.get("protocol", self.config.protocol),
                                 body.get("location", ""))
        ret = result.get("ret")
        if ret != 0:
            if self.decode_segment_ids:
                return _error(500, f"Mount failed, ret={ret}; keeping previous decode segments",
                              mode=self.mode)
            self.mode = "prefill"
            return _error(500, f"Mount failed, ret={ret}; rolled back to prefill",
                          mode="prefill")
        still_mounted = []
        for segment_id in self.decode_segment_ids:
            if await self._run(self.store.unmount_segment, [segment_id], 0) != 0:
                still_mounted.append(segment_id)
        self.decode_segment_ids = list(result["segment_ids"]) + still_mounted
        self.mode = "decode"
        return web.json_response({"status": "success", "mode": "decode",
                                  "segment_ids": self.decode_segment_ids})

    def routes(self):
        return [
            web.put("/api/put", self.handle_put),
            web.get("/api/get/{key}", self.handle_get),
            web.get("/api/exist/{key}", self.handle_exist),
            web.delete("/api/remove/{key}", self.handle_remove),
            web.delete("/api/remove_all", self.handle_remove_all),
            web.post("/api/mount_shm", self.handle_mount_shm),
            web.post("/api/unmount_shm", self.handle_unmount_shm),
            web.post("/api/mount", self.handle_mount),
            web.post("/api/unmount", self.handle_unmount),
            web.post("/api/unmount_local_disk", self.handle_unmount_local_disk),
            web.post("/api/reconfigure", self.handle_reconfigure),
        ]


@web.middleware
async def _errors_as_json(request, handler):
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge as error:
        # The reference's handlers raise on a body above the limit: 500.
        return web.json_response({"error": error.text}, status=500)
    except web.HTTPException:
        raise
    except Exception as error:
        _log.exception("%s %s failed", request.method, request.path)
        return web.json_response({"error": str(error)}, status=500)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Mooncake store REST service")
    parser.add_argument("--config", type=str, default=None,
                        help="JSON config file (default: MOONCAKE_* environment variables)")
    parser.add_argument("-D", "--define", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field (repeatable)")
    parser.add_argument("--port", type=int, default=8080, help="REST port (bound on 0.0.0.0)")
    parser.add_argument("--max-wait-time", type=float, default=60.0,
                        help="seconds to keep retrying the store setup")
    return parser.parse_args(argv)


def load_config(args):
    config = (MooncakeConfig.from_file(args.config) if args.config
              else MooncakeConfig.load_from_env())
    for item in args.define:
        name, sep, value = item.partition("=")
        if not sep:
            _log.warning("ignoring -D %r: expected KEY=VALUE", item)
        elif hasattr(config, name):
            setattr(config, name, value)
        else:
            _log.warning("ignoring -D %r: no such config field", item)
    return config


async def main(argv=None):
    logging.basicConfig(level=os.getenv("MOONCAKE_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    service = MooncakeStoreService(load_config(args))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = None
    try:
        await service.start_store_service(args.max_wait_time, stop)
        if service.store is None:
            _log.info("stopped before the store was set up")
            return
        app = web.Application(client_max_size=_MAX_BODY, middlewares=[_errors_as_json])
        app.add_routes(service.routes())
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "0.0.0.0", args.port).start()
        _log.info("store REST service on port %d", args.port)
        await stop.wait()
    finally:
        if runner is not None:
            await runner.cleanup()
        service.close()


def sync_main(argv=None):
    """The console command mc_store_rest_server."""
    asyncio.run(main(argv))


if __name__ == "__main__":
    sync_main()
