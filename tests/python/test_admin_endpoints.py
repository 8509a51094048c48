"""The master's admin routes on its metrics port, in the reference's formats
(SGLang's check_server polls /get_all_segments)."""

import json
import urllib.error
import urllib.parse
import urllib.request

from mooncake_testing import unique_key


def fetch(master, path):
    """(status, content type, body bytes) of GET path on the metrics port."""
    url = f"http://127.0.0.1:{master.metrics_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.headers.get("Content-Type"), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read()


def test_segments_routes(master_factory, store_factory):
    master = master_factory()
    status, _, body = fetch(master, "/get_all_segments")
    assert (status, body) == (200, b"")
    store = store_factory(on_master=master)
    name = store.get_hostname()
    status, _, body = fetch(master, "/get_all_segments")
    assert (status, body.decode()) == (200, name + "\n")

    key = unique_key()
    assert store.put(key, b"x" * 1000) == 0
    status, _, body = fetch(master, "/query_segment?segment=" + urllib.parse.quote(name))
    assert status == 200
    lines = body.decode().split("\n")
    assert lines[0] == name
    assert lines[1].startswith("Used(bytes): ") and int(lines[1].split(": ")[1]) >= 1000
    assert lines[2] == f"Capacity(bytes) : {64 * 1024 * 1024}"
    assert fetch(master, "/query_segment?segment=nohost:1")[::2] == (500,
                                                                     b"Failed to query segment")

    status, content_type, body = fetch(master, "/get_segments_detail")
    assert status == 200 and content_type.startswith("application/json")
    detail = json.loads(body)
    assert detail["total_segments"] == 1
    segment = detail["segments"][0]
    assert segment["segment_name"] == name and segment["te_endpoint"] == name
    assert segment["size_bytes"] == 64 * 1024 * 1024
    assert segment["allocator_used_bytes"] >= 1000
    assert segment["base_address"].startswith("0x")
    assert segment["status"] == "OK"
    assert list(segment) == [
        "segment_name", "segment_id", "client_id", "base_address", "size_bytes", "size_human",
        "te_endpoint", "protocol", "status", "allocator_used_bytes", "allocator_capacity_bytes",
        "allocator_usage_percent"]


def test_key_routes(master_factory, store_factory):
    master = master_factory()
    store = store_factory(on_master=master)
    keys = [unique_key("admin") for _ in range(2)]
    for key in keys:
        assert store.put(key, b"v" * 100) == 0
    status, _, body = fetch(master, "/get_all_keys")
    assert status == 200 and sorted(body.decode().splitlines()) == sorted(keys)

    status, content_type, body = fetch(master, "/query_key?key=" + keys[0])
    assert status == 200 and content_type.startswith("text/plain")
    lines = body.decode().splitlines()
    assert len(lines) == 1
    descriptor = json.loads(lines[0])
    assert list(descriptor) == ["size_", "buffer_address_", "protocol_", "transport_endpoint_"]
    assert descriptor["size_"] == 100
    assert descriptor["transport_endpoint_"] == store.get_hostname()
    assert fetch(master, "/query_key?key=missing")[::2] == (404, b"OBJECT_NOT_FOUND")

    query = ",".join([keys[0], "missing", keys[1]])
    status, content_type, body = fetch(master, "/batch_query_keys?keys=" + query)
    assert status == 200 and content_type.startswith("application/json")
    answer = json.loads(body)
    assert answer["success"] is True
    assert list(answer["data"]) == [keys[0], "missing", keys[1]]
    assert answer["data"][keys[0]]["ok"] is True
    assert answer["data"][keys[0]]["values"][0]["size_"] == 100
    assert answer["data"]["missing"] == {"ok": False, "error": "OBJECT_NOT_FOUND"}
    # Keys are taken as sent, not percent-decoded (interfaces.md §6.1).
    raw_key = unique_key("raw") + "%2Cx"
    assert store.put(raw_key, b"r" * 10) == 0
    assert fetch(master, "/query_key?key=" + raw_key)[0] == 200
    answer = json.loads(fetch(master, "/batch_query_keys?keys=" + raw_key)[2])
    assert list(answer["data"]) == [raw_key] and answer["data"][raw_key]["ok"] is True
    spaced = unique_key("spaced") + " 2"
    assert store.put(spaced, b"s") == 0
    assert fetch(master, "/query_key?key=" + spaced.replace(" ", "%20"))[0] == 404
    status, _, body = fetch(master, "/batch_query_keys")
    assert status == 400
    assert json.loads(body) == {"success": False,
                                "error": "No keys provided. Use ?keys=key1,key2,..."}


def test_summary_line_and_legacy_disk_flags(master_factory, store_factory):
    """/metrics/summary in the reference's shape (interfaces.md §6.1), on a
    master started with the reference's legacy disk-path flags (§8.6)."""
    master = master_factory(["--enable_disk_eviction=true", "--quota_bytes=0"])
    store = store_factory(on_master=master)
    from mooncake.store import ReplicateConfig
    key = unique_key()
    assert store.put(key, b"x" * 1000) == 0
    assert store.put(unique_key("pinned"), b"p", ReplicateConfig(with_soft_pin=True)) == 0
    assert store.get(key) == b"x" * 1000
    assert store.get(unique_key("missing")) == b""
    status, content_type, body = fetch(master, "/metrics/summary")
    line = body.decode()
    assert status == 200 and content_type == "text/plain; version=0.0.4"
    assert line.startswith("Mem Storage: ") and " | Keys: 2 (soft-pinned: 1) | Clients: 1 | " in line, line
    assert " | SSD Storage: 0.00 B / 0.00 B | " in line, line
    assert "Requests (Success/Total): PutStart=2/2, PutEnd=2/2" in line, line
    assert "Get=1/2" in line, line
    assert "| Batch Requests (Success/Total): " in line, line
    # HEAD's role routes: a master without HA leads and serves.
    assert fetch(master, "/role")[2] == b"leader"
    assert fetch(master, "/ha_status")[2] == b"serving"
    assert json.loads(fetch(master, "/leader")[2])["present"] is True
