"""The reference's Python modules: mooncake.mooncake_config, the async store
wrapper, the stand-alone HTTP metadata server and the REST store service
(the last two as real processes, started the way users start them)."""

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import setup_args
from mooncake_testing import DEFAULT_DEADLINE_S, free_port, unique_key, wait_or_kill

from mooncake.mooncake_config import (DEFAULT_GLOBAL_SEGMENT_SIZE, DEFAULT_LOCAL_BUFFER_SIZE,
                                      MooncakeConfig, _parse_bool, _parse_segment_size)


# ---- mooncake_config ---------------------------------------------------------------

def test_size_parsing():
    assert _parse_segment_size(123) == 123
    assert _parse_segment_size("4gb") == 4 << 30
    assert _parse_segment_size(" 16 MB ") == 16 << 20
    assert _parse_segment_size("1.5GB") == 1610612736
    assert _parse_segment_size("512m") == 512 << 20
    assert _parse_segment_size("2k") == 2048
    assert _parse_segment_size("10b") == 10
    assert _parse_segment_size("1e3") == 1000
    for bad in ("", "gb", "50%", "4xb", "lots"):
        with pytest.raises(ValueError):
            _parse_segment_size(bad)


def test_bool_parsing():
    for word in (True, 1, "true", " YES ", "on", "enable", "1"):
        assert _parse_bool(word) is True
    for word in (False, 0, None, "", "false", "No", "off", "disable", "0"):
        assert _parse_bool(word) is False
    with pytest.raises(ValueError, match="Invalid boolean value"):
        _parse_bool("maybe")


def test_config_from_file(tmp_path):
    path = tmp_path / "store.json"
    path.write_text(json.dumps({
        "local_hostname": "node1", "metadata_server": "P2PHANDSHAKE",
        "master_server_address": "10.0.0.1:50051", "global_segment_size": "2gb",
        "protocol": " RDMA ", "enable_ssd_offload": "false", "tenant_id": None,
        "client_http_port": "9400", "unknown": 1}))
    config = MooncakeConfig.from_file(str(path))
    assert config.global_segment_size == 2 << 30
    assert config.local_buffer_size == DEFAULT_LOCAL_BUFFER_SIZE
    assert config.protocol == "rdma"
    assert config.device_name == ""
    assert config.tenant_id == "default"
    assert config.client_http_port == 9400
    assert config.enable_ssd_offload is False
    path.write_text(json.dumps({"local_hostname": "n", "metadata_server": "m"}))
    with pytest.raises(ValueError, match="Missing required config field: master_server_address"):
        MooncakeConfig.from_file(str(path))
    path.write_text(json.dumps({"local_hostname": " ", "metadata_server": "m",
                                "master_server_address": "a:1"}))
    with pytest.raises(ValueError):
        MooncakeConfig.from_file(str(path))


def test_config_from_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("MOONCAKE_"):
            monkeypatch.delenv(name)
    with pytest.raises(ValueError, match="MOONCAKE_MASTER"):
        MooncakeConfig.load_from_env()
    monkeypatch.setenv("MOONCAKE_MASTER", "127.0.0.1:50051")
    config = MooncakeConfig.load_from_env()
    assert (config.local_hostname, config.metadata_server, config.protocol) == (
        "localhost", "P2PHANDSHAKE", "tcp")
    assert config.global_segment_size == DEFAULT_GLOBAL_SEGMENT_SIZE
    assert (config.tenant_id, config.client_http_port) == ("default", 9300)
    monkeypatch.setenv("MOONCAKE_GLOBAL_SEGMENT_SIZE", "16MB")
    monkeypatch.setenv("MOONCAKE_OFFLOAD_ENABLED", "on")
    config = MooncakeConfig.load_from_env()
    assert config.global_segment_size == 16 << 20 and config.enable_ssd_offload is True
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"local_hostname": "h", "metadata_server": "m",
                                "master_server_address": "file:1"}))
    monkeypatch.setenv("MOONCAKE_CONFIG_PATH", str(path))
    assert MooncakeConfig.load_from_env().master_server_address == "file:1"


def test_config_validation():
    with pytest.raises(ValueError):
        MooncakeConfig("h", "m", -1, 0, "tcp", "", "a:1")
    with pytest.raises(ValueError):
        MooncakeConfig("h", "m", 0, 0, "", "", "a:1")
    assert MooncakeConfig("h", "m", 0, 0, "Carrier", None, "a:1").protocol == "carrier"


# ---- async wrapper ---------------------------------------------------------------

def test_async_store(master):
    from mooncake.async_store import MooncakeDistributedStoreAsync

    store = MooncakeDistributedStoreAsync()
    assert store.setup(**setup_args(master)) == 0

    async def work():
        key = unique_key()
        assert await store.async_put(key, b"async value") == 0
        assert await store.async_get(key) == b"async value"
        assert await store.async_is_exist(key) == 1
        return key

    try:
        key = asyncio.run(work())
        assert store.get(key) == b"async value"  # sync methods are inherited
        with pytest.raises(AttributeError):
            store.async_no_such_method
        with pytest.raises(AttributeError):
            store.no_such_attribute
    finally:
        store.close()


# ---- processes -----------------------------------------------------------------

def request(method, url, body=None):
    """(status, body bytes)."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def start_module(module, args, env=None, ready_url=None):
    process = subprocess.Popen([sys.executable, "-m", module] + args, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + DEFAULT_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{module} exited: {process.stdout.read().decode()}")
        try:
            urllib.request.urlopen(ready_url, timeout=1)
            return process
        except urllib.error.HTTPError:
            return process  # it answers
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"{module} did not start")


def stop_process(process):
    process.terminate()
    wait_or_kill(process, 10)


def test_http_metadata_server_serves_a_store(master):
    pytest.importorskip("aiohttp")
    port = free_port()
    url = f"http://127.0.0.1:{port}/metadata"
    server = start_module("mooncake.http_metadata_server", ["--port", str(port), "--host",
                                                            "127.0.0.1"], ready_url=url)
    try:
        assert request("GET", url) == (400, b"metadata key is required")
        assert request("GET", url + "?key=k") == (404, b"metadata not found")
        assert request("PUT", url + "?key=k", b"value") == (200, b"metadata updated")
        assert request("GET", url + "?key=k") == (200, b"value")
        assert request("PUT", url + "?key=a_rpc_meta", b"1")[0] == 200
        assert request("PUT", url + "?key=a_rpc_meta", b"2") == (
            400, b"Duplicate rpc_meta key not allowed")
        assert request("DELETE", url + "?key=k") == (200, b"metadata deleted")
        assert request("DELETE", url + "?key=k") == (404, b"metadata not found")
        assert request("POST", url + "?key=k") == (405, b"Method not allowed")
        # Two stores that find each other through it.
        from mooncake.store import MooncakeDistributedStore
        stores = [MooncakeDistributedStore() for _ in range(2)]
        try:
            for store in stores:
                assert store.setup(**setup_args(master, metadata_server=url)) == 0
            key = unique_key()
            assert stores[0].put(key, b"through python metadata") == 0
            assert stores[1].get(key) == b"through python metadata"
        finally:
            for store in stores:
                store.close()
    finally:
        stop_process(server)
    assert server.returncode == 0


def start_rest_service(master, global_segment_size):
    """Starts the REST service (mooncake_store_service) against `master`;
    returns the process and the base URL of its API."""
    port = free_port()
    env = dict(os.environ, MOONCAKE_MASTER=master.rpc_address,
               MOONCAKE_TE_META_DATA_SERVER=master.metadata_url,
               MOONCAKE_LOCAL_HOSTNAME="127.0.0.1",
               MOONCAKE_GLOBAL_SEGMENT_SIZE=global_segment_size,
               MOONCAKE_LOCAL_BUFFER_SIZE="16MB")
    base = f"http://127.0.0.1:{port}/api"
    service = start_module("mooncake.mooncake_store_service", ["--port", str(port)], env=env,
                           ready_url=base + "/exist/probe")
    return service, base


def test_rest_store_service(master):
    pytest.importorskip("aiohttp")
    service, base = start_rest_service(master, "32MB")
    try:
        key = unique_key()
        assert request("PUT", base + "/put", {"key": key, "value": "héllo"}) == (
            200, b'{"status": "success"}')
        assert request("GET", f"{base}/get/{key}") == (200, "héllo".encode())
        assert json.loads(request("GET", f"{base}/exist/{key}")[1]) == {"exists": True}
        assert request("GET", f"{base}/get/missing-{key}")[0] == 404
        assert request("PUT", base + "/put", {"key": "", "value": "x"})[0] == 400
        # The value is text, as in the reference: a number fails in encode().
        status, body = request("PUT", base + "/put", {"key": unique_key(), "value": 5})
        assert status == 500 and "error" in json.loads(body)
        # The get above leased key: remove (no force) refuses it for a while.
        assert request("DELETE", f"{base}/remove/{key}")[0] == 500
        unread = unique_key()
        assert request("PUT", base + "/put", {"key": unread, "value": "v"})[0] == 200
        assert request("DELETE", f"{base}/remove/{unread}")[0] == 200
        assert request("DELETE", f"{base}/remove/{unread}")[0] == 500
        assert json.loads(request("GET", f"{base}/exist/{unread}")[1]) == {"exists": False}
        assert request("POST", base + "/mount", {"size": 0})[0] == 400
        status, body = request("DELETE", base + "/remove_all")
        assert status == 200 and json.loads(body)["status"].startswith("success removed")
    finally:
        stop_process(service)


def test_rest_service_stops_cleanly_while_retrying_setup():
    pytest.importorskip("aiohttp")
    env = dict(os.environ, MOONCAKE_MASTER=f"127.0.0.1:{free_port()}",  # nobody there
               MOONCAKE_TE_META_DATA_SERVER="P2PHANDSHAKE", MOONCAKE_LOCAL_HOSTNAME="127.0.0.1",
               MOONCAKE_GLOBAL_SEGMENT_SIZE="16MB", MOONCAKE_LOCAL_BUFFER_SIZE="16MB")
    process = subprocess.Popen([sys.executable, "-m", "mooncake.mooncake_store_service",
                                "--port", str(free_port()), "--max-wait-time", "60"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.set_blocking(process.stdout.fileno(), False)
    deadline = time.monotonic() + 30
    output = b""
    while b"retrying" not in output and time.monotonic() < deadline:
        time.sleep(0.5)
        output += process.stdout.read() or b""
    assert b"retrying" in output, output
    process.terminate()
    try:
        rest, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output + rest
    assert b"Traceback" not in output + rest


def test_console_commands_are_installed():
    import shutil
    bin_dir = os.path.dirname(sys.executable)
    for command in ("mooncake_http_metadata_server", "mc_store_rest_server"):
        beside = os.path.join(bin_dir, command)
        assert os.access(beside, os.X_OK) or shutil.which(command), command
