"""Denial of service by unauthenticated peers (issue 16, items 4-7, 11, 14):
floods of idle and trickling connections against every listener (HTTP
metadata, /metrics, hot path, transfer engine) while honest requests are
timed, and the memory a peer can make the master hold. Every flood is local
(127.0.0.1), a few thousand connections and a few hundred MiB at most, and
lasts seconds. docs/security.md states the limits these check."""

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time

from dos_helpers import Flood, raise_fd_limit, timed_http, timed_hot_hello, HOT_HELLO
from mooncake_testing import free_port, wait_until
from reliability_helpers import rss_bytes

MiB = 1024 * 1024
HONEST_LIMIT_S = 1.0
TRICKLE_PUT = b"PUT /metadata?key=trickle HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"


def honest_http_rounds(port, rounds, figures, name, metadata=True):
    """Times `rounds` honest requests on fresh connections; each must be
    answered within HONEST_LIMIT_S."""
    slowest = 0.0
    for i in range(rounds):
        if metadata:
            value = os.urandom(64 * 1024)
            status, _, put_s = timed_http(port, "PUT", f"/metadata?key=honest-{i}", value,
                                          {"Content-Type": "application/octet-stream"})
            assert status == 200, status
            status, body, get_s = timed_http(port, "GET", f"/metadata?key=honest-{i}")
            assert status == 200 and body == value
            slowest = max(slowest, put_s, get_s)
        else:
            status, body, get_s = timed_http(port, "GET", "/metrics")
            assert status == 200 and b"mooncake_master" in body
            slowest = max(slowest, get_s)
        time.sleep(0.1)
    figures.max(f"{name}_slowest_honest_s", round(slowest, 3))
    assert slowest < HONEST_LIMIT_S, f"{name}: an honest request took {slowest:.2f} s"


def test_http_listeners_serve_through_1000_idle_and_trickling(master_factory, store_factory,
                                                              figures):
    raise_fd_limit(8192)
    master = master_factory()
    for port, name, metadata in ((master.http_port, "metadata", True),
                                 (master.metrics_port, "metrics", False)):
        flood = Flood(port, idle=500, trickle=500, trickle_bytes=TRICKLE_PUT, interval_s=0.2)
        try:
            time.sleep(1.0)  # the trickles are well under way
            honest_http_rounds(port, 10, figures, name, metadata)
            if metadata:
                # A new store can join (its engine publishes through this port).
                started = time.monotonic()
                store_factory(on_master=master)
                figures.max("store_setup_under_flood_s", round(time.monotonic() - started, 2))
            figures.add(f"{name}_flood_connections", flood.opened)
            figures.add(f"{name}_flood_bytes", flood.bytes_sent)
        finally:
            flood.stop()
    assert master.process.poll() is None


def test_http_connection_cap_evicts_the_oldest(master_factory, figures):
    raise_fd_limit(8192)
    master = master_factory(["--http_max_connections=200"])
    flood = Flood(master.http_port, idle=1000)
    try:
        honest_http_rounds(master.http_port, 5, figures, "capped_metadata")
        figures.add("flood_connections", flood.opened)
        alive = flood.open_count()
        figures.max("flood_connections_kept", alive)
        assert alive <= 200, alive
    finally:
        flood.stop()


def test_http_trickled_request_is_cut_at_its_deadline(master_factory, figures):
    master = master_factory(["--http_request_timeout_ms=1000"])
    with socket.create_connection(("127.0.0.1", master.http_port), timeout=5) as connection:
        started = time.monotonic()
        closed_after = None
        for byte in TRICKLE_PUT:
            try:
                connection.sendall(bytes([byte]))
                connection.settimeout(0.1)
                if connection.recv(1) == b"":
                    closed_after = time.monotonic() - started
                    break
            except socket.timeout:
                continue
            except OSError:
                closed_after = time.monotonic() - started
                break
    figures.max("trickle_closed_after_s", round(closed_after or -1, 2))
    assert closed_after is not None and closed_after < 3.0, closed_after


def put_raw(port, head, body_parts, read_timeout=10):
    """Sends a request head and body parts; returns the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as connection:
        try:
            connection.sendall(head)
            for part in body_parts:
                connection.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        while b"\r\n" not in answer:
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def test_http_body_limits_hold_for_every_encoding(master, figures):
    port = master.http_port
    # A chunked body above 16 MiB is refused (it was stored: item 5).
    chunk = b"x" * MiB
    parts = [b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(20)] + [b"0\r\n\r\n"]
    line = put_raw(port, b"PUT /metadata?key=chunked-huge HTTP/1.1\r\nHost: x\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n", parts)
    assert b" 413 " in line, line
    assert timed_http(port, "GET", "/metadata?key=chunked-huge")[0] == 404
    # A chunked body within the limit is stored de-chunked.
    value = os.urandom(3 * MiB + 5)
    parts = [b"%x\r\n" % len(value[i:i + MiB]) + value[i:i + MiB] + b"\r\n"
             for i in range(0, len(value), MiB)] + [b"0\r\n\r\n"]
    line = put_raw(port, b"PUT /metadata?key=chunked-ok HTTP/1.1\r\nHost: x\r\n"
                   b"Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n",
                   parts)
    assert b" 200 " in line, line
    status, body, _ = timed_http(port, "GET", "/metadata?key=chunked-ok")
    assert status == 200 and body == value
    # Content-Length above the limit: refused before the body is read.
    line = put_raw(port, b"PUT /metadata?key=big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                   b"\r\n" % (16 * MiB + 1), [])
    assert b" 413 " in line, line
    # Both lengths at once (request smuggling) are refused.
    line = put_raw(port, b"PUT /metadata?key=smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", [])
    assert b" 400 " in line, line
    assert timed_http(port, "GET", "/metadata?key=smuggle")[0] == 404


def test_http_put_of_any_content_type_up_to_16_mib(master, figures):
    port = master.http_port
    for size in (70 * 1000, 16 * MiB):
        value = os.urandom(size)
        # What curl --data-binary sends without -H: the form content type.
        status, _, _ = timed_http(port, "PUT", f"/metadata?key=form-{size}", value,
                                  {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200, (size, status)
        status, body, _ = timed_http(port, "GET", f"/metadata?key=form-{size}")
        assert status == 200 and body == value
    curl = shutil.which("curl")
    if curl:
        with tempfile.NamedTemporaryFile() as data:
            data.write(os.urandom(70 * 1000))
            data.flush()
            out = subprocess.run([curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X",
                                  "PUT", "--data-binary", f"@{data.name}",
                                  f"http://127.0.0.1:{port}/metadata?key=curl"],
                                 capture_output=True, text=True, timeout=30)
            assert out.stdout == "200", (out.stdout, out.stderr)
            figures.add("curl_put_bytes", 70 * 1000)


def test_http_memory_is_bounded_and_returned(master_factory, figures):
    master = master_factory(["--http_max_buffered_bytes=33554432",
                             "--http_metadata_max_total_bytes=268435456"])
    port, pid = master.http_port, master.process.pid
    baseline = rss_bytes(pid)
    # 40 MiB of header lines on one connection: refused after 64 KiB.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\n")
        line = b"X-Filler: " + b"y" * 1000 + b"\r\n"
        try:
            for _ in range(40 * 1024):
                connection.sendall(line)
        except (BrokenPipeError, ConnectionResetError):
            pass
    header_growth = rss_bytes(pid) - baseline
    figures.max("rss_growth_after_40MiB_headers_MiB", round(header_growth / MiB, 1))
    assert header_growth < 16 * MiB, header_growth
    # 64 connections each sending 1 MiB of an announced 16 MiB body: the
    # 32 MiB budget refuses the excess (503), the rest waits.
    held = []
    refused = 0
    for i in range(64):
        connection = socket.create_connection(("127.0.0.1", port), timeout=10)
        held.append(connection)
        try:
            connection.sendall(b"PUT /metadata?key=slow-%d HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: %d\r\n\r\n" % (i, 16 * MiB) + b"z" * MiB)
        except OSError:
            refused += 1  # refused (503) and closed while we were sending
    time.sleep(0.5)
    for connection in held:
        connection.settimeout(0.05)
        try:
            refused += b" 503 " in connection.recv(4096)
        except OSError:
            pass
    in_flight = rss_bytes(pid) - baseline
    honest_http_rounds(port, 3, figures, "budget")
    for connection in held:
        connection.close()
    figures.max("slow_bodies_refused", refused)
    figures.max("rss_growth_with_64_unfinished_bodies_MiB", round(in_flight / MiB, 1))
    assert refused >= 20, refused
    assert in_flight < 64 * MiB, in_flight
    # Fill the store to 240 MiB, delete everything: the memory goes back.
    value = b"v" * (4 * MiB)
    for i in range(60):
        assert timed_http(port, "PUT", f"/metadata?key=fill-{i}", value)[0] == 200
    full = rss_bytes(pid) - baseline
    for i in range(60):
        assert timed_http(port, "DELETE", f"/metadata?key=fill-{i}")[0] == 200
    emptied = rss_bytes(pid) - baseline
    figures.max("rss_growth_full_MiB", round(full / MiB, 1))
    figures.max("rss_growth_after_delete_MiB", round(emptied / MiB, 1))
    assert full > 200 * MiB, full
    assert emptied < 48 * MiB, emptied


def test_metadata_cap_bounds_real_memory(master_factory, figures):
    import http.client
    cap = 2 * MiB
    master = master_factory([f"--http_metadata_max_total_bytes={cap}"])
    connection = http.client.HTTPConnection("127.0.0.1", master.http_port, timeout=10)
    stored = 0
    while True:
        connection.request("PUT", f"/metadata?key=k{stored:08d}", b"v" * 24)
        reply = connection.getresponse()
        reply.read()
        if reply.status == 507:
            break
        assert reply.status == 200, reply.status
        stored += 1
        assert stored < 100000, "the cap never applied"
    connection.close()
    figures.max("small_keys_stored_in_2MiB", stored)
    # Each 9-byte key + 24-byte value costs ~190 bytes of real memory; the
    # cap must count that, not the 33 bytes of text (item 11).
    assert stored * 150 <= cap, stored


def test_hot_path_frames_and_buffers_are_bounded(master_factory, figures):
    hot_port = free_port()
    master = master_factory([f"--hot_rpc_port={hot_port}",
                             "--hot_rpc_max_buffered_bytes=33554432"])
    pid = master.process.pid
    baseline = rss_bytes(pid)
    # A frame above the protocol's 8 MiB is refused at its header.
    with socket.create_connection(("127.0.0.1", hot_port), timeout=10) as connection:
        connection.sendall(HOT_HELLO + struct.pack("<I", 64 * MiB) + b"x" * 1000)
        connection.settimeout(5)
        answer = b""
        try:
            while True:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except ConnectionResetError:
            pass
        assert len(answer) == 28, answer  # the hello, then the close
    # 16 connections each sending 7 MiB of an unfinished 8 MiB frame (112 MiB
    # in all): the 32 MiB budget holds (item 6).
    held = []
    for _ in range(16):
        connection = socket.create_connection(("127.0.0.1", hot_port), timeout=10)
        connection.sendall(HOT_HELLO + struct.pack("<I", 8 * MiB - 16))
        try:
            connection.sendall(b"f" * (7 * MiB))
        except (BrokenPipeError, ConnectionResetError):
            pass
        held.append(connection)
    time.sleep(0.5)
    growth = rss_bytes(pid) - baseline
    assert timed_hot_hello(hot_port) < HONEST_LIMIT_S
    for connection in held:
        connection.close()
    figures.max("rss_growth_16_unfinished_frames_MiB", round(growth / MiB, 1))
    assert growth < 64 * MiB, growth


def test_hot_path_serves_through_1000_idle_and_trickling(master_factory, store_factory, figures):
    raise_fd_limit(8192)
    for cap in (None, 256):
        hot_port = free_port()
        extra = [f"--hot_rpc_port={hot_port}"] + ([f"--hot_rpc_max_connections={cap}"]
                                                  if cap else [])
        master = master_factory(extra)
        store = store_factory(on_master=master)
        assert store.put("before", b"b" * 1000) == 0
        flood = Flood(hot_port, idle=500, trickle=500, idle_prefix=HOT_HELLO,
                      trickle_bytes=HOT_HELLO + struct.pack("<I", 1000) + b"t" * 1000,
                      interval_s=0.2)
        name = f"cap_{cap}" if cap else "default_cap"
        try:
            time.sleep(1.0)
            slowest = 0.0
            for i in range(10):
                slowest = max(slowest, timed_hot_hello(hot_port))
                started = time.monotonic()
                assert store.put(f"k{i}", b"v" * 4096) == 0
                assert store.get(f"k{i}") == b"v" * 4096
                assert store.get("before") == b"b" * 1000
                slowest = max(slowest, time.monotonic() - started)
                time.sleep(0.1)
            figures.max(f"hot_{name}_slowest_honest_s", round(slowest, 3))
            figures.add(f"hot_{name}_flood_connections", flood.opened)
            assert slowest < HONEST_LIMIT_S, (name, slowest)
        finally:
            flood.stop()


def test_transfer_port_serves_through_idle_flood(master, store_factory, remote_factory, figures):
    from mooncake.store import ReplicateConfig
    flood_size = 4200  # above the engine's 4096 connections
    raise_fd_limit(flood_size + 1024)
    owner = remote_factory()
    reader = store_factory()
    port = int(owner.get_hostname().rsplit(":", 1)[1])
    config = ReplicateConfig()
    config.preferred_segment = owner.get_hostname()
    values = {f"te-{i}": os.urandom(256 * 1024) for i in range(8)}
    for key, value in values.items():
        assert reader.put(key, value, config) == 0
    flood = Flood(port, idle=flood_size)
    try:
        time.sleep(0.5)
        slowest = 0.0
        for round_ in range(3):
            for key, value in values.items():
                started = time.monotonic()
                assert reader.get(key) == value, key
                slowest = max(slowest, time.monotonic() - started)
        figures.max("transfer_slowest_honest_get_s", round(slowest, 3))
        figures.add("transfer_flood_connections", flood.opened)
        assert slowest < HONEST_LIMIT_S, slowest
    finally:
        flood.stop()


def test_mooncake_client_stops_promptly_during_setup(master, figures):
    from mooncake_testing import find_client_binary
    import pytest
    binary = find_client_binary()
    if binary is None:
        pytest.skip("no mooncake_client binary")
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [binary, "--host=127.0.0.1", f"--metadata_server={master.metadata_url}",
         f"--master_server_address={master.rpc_address}", "--global_segment_size=2 GB",
         "--port=0"], stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.3)  # inside the segment set-up
        signalled = time.monotonic()
        process.terminate()
        process.wait(timeout=10)
        stopped_s = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log.seek(0)
    text = log.read().decode(errors="replace")
    figures.max("client_stop_after_sigterm_s", round(stopped_s, 3))
    assert stopped_s < 1.0, (stopped_s, text[-2000:])
    assert process.returncode == 0, (process.returncode, text[-2000:])
