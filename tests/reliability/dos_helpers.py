"""Hostile peers for the denial-of-service scenarios (test_dos.py): floods of
idle and trickling connections on loopback, bounded in time and traffic, and
honest requests timed while they run."""

import http.client
import resource
import socket
import struct
import threading
import time

HOT_HELLO = b"MCHP" + struct.pack("<I", 1)


def raise_fd_limit(needed):
    """Lifts this process's (and its children's) descriptor limit to at
    least `needed`, or skips when the hard limit is lower."""
    import pytest
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {needed}")
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed if hard == resource.RLIM_INFINITY
                                                    else min(hard, max(needed, soft)), hard))


class Flood:
    """`idle` connections that send `idle_prefix` once (maybe nothing) and
    then stay silent, and `trickle` connections that send `trickle_bytes`
    one byte per connection every `interval_s`, for ever (reopened when the
    server closes them). stop() closes all; `opened` counts connections
    made, `closed_by_server` those the server ended."""

    def __init__(self, port, idle=0, trickle=0, idle_prefix=b"", trickle_bytes=b"GET /",
                 interval_s=0.5, host="127.0.0.1"):
        self.port, self.host = port, host
        self.idle_prefix, self.trickle_bytes, self.interval_s = idle_prefix, trickle_bytes, interval_s
        self.opened = 0
        self.closed_by_server = 0
        self.bytes_sent = 0
        self._idle = [self._open(idle_prefix) for _ in range(idle)]
        self._trickle = [[self._open(b""), 0] for _ in range(trickle)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _open(self, prefix):
        connection = socket.create_connection((self.host, self.port), timeout=5)
        self.opened += 1
        if prefix:
            connection.sendall(prefix)
            self.bytes_sent += len(prefix)
        connection.setblocking(False)
        return connection

    def _run(self):
        while not self._stop.wait(self.interval_s):
            for entry in self._trickle:
                connection, sent = entry
                try:
                    byte = self.trickle_bytes[sent % len(self.trickle_bytes):][:1]
                    connection.send(byte)
                    self.bytes_sent += 1
                    entry[1] = sent + 1
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self.closed_by_server += 1
                    connection.close()
                    try:
                        entry[0], entry[1] = self._open(b""), 0
                    except OSError:
                        pass

    def open_count(self):
        """Connections of the flood the server still keeps open."""
        alive = 0
        for connection in self._idle + [entry[0] for entry in self._trickle]:
            try:
                alive += connection.recv(1, socket.MSG_PEEK) != b""
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        return alive

    def stop(self):
        self._stop.set()
        self._thread.join()
        for connection in self._idle + [entry[0] for entry in self._trickle]:
            connection.close()


def timed_http(port, method, path, body=None, headers=None, timeout=10):
    """(status, body, seconds) of one request on a fresh connection."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        reply = connection.getresponse()
        data = reply.read()
        return reply.status, data, time.monotonic() - started
    finally:
        connection.close()


def timed_hot_hello(port, timeout=10):
    """Seconds until the hot path answered a proper hello (28 bytes)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(HOT_HELLO)
        answer = b""
        while len(answer) < 28:
            chunk = connection.recv(64)
            assert chunk, "hot path closed before its hello"
            answer += chunk
    assert answer[:4] == b"MCHP" and struct.unpack_from("<i", answer, 8)[0] == 0, answer
    return time.monotonic() - started
