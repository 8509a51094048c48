"""A real etcd member for tests (Debian's etcd-server): loopback ports, data
in a temporary directory. Keys are read back through etcd's own JSON
gateway (/v3/kv/*), so no etcd client library is needed."""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request

from mooncake_testing import free_port, wait_until

ETCD = shutil.which("etcd")
ETCDCTL = shutil.which("etcdctl")
SKIP_REASON = "etcd is not installed (apt-get install etcd-server etcd-client)"


def _b64(text):
    return base64.b64encode(text.encode()).decode()


class Etcd:
    """One etcd member on free loopback ports, data in a temporary directory."""

    def __init__(self, name="test"):
        self.name = name
        self.data_dir = tempfile.mkdtemp(prefix="mooncake-etcd-")
        self.client_port = free_port()
        self.peer_port = free_port()
        self.process = None
        self.log = None

    @property
    def endpoint(self):
        return f"127.0.0.1:{self.client_port}"

    def start(self):
        url = f"http://{self.endpoint}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.log = open(os.path.join(self.data_dir, "etcd.log"), "ab")
        self.process = subprocess.Popen(
            [ETCD, "--name", self.name, "--data-dir", os.path.join(self.data_dir, "data"),
             "--listen-client-urls", url, "--advertise-client-urls", url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"{self.name}={peer}"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_until(self.healthy, deadline_s=30, what="etcd to serve")
        return self

    def healthy(self):
        try:
            with urllib.request.urlopen(f"http://{self.endpoint}/health", timeout=1) as reply:
                return b"true" in reply.read()
        except OSError:
            return False

    def _call(self, path, body):
        request = urllib.request.Request(f"http://{self.endpoint}/v3/kv/{path}",
                                         data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=5) as reply:
            return json.loads(reply.read())

    def get(self, key):
        """The value of `key` as text, None when absent."""
        kvs = self._call("range", {"key": _b64(key)}).get("kvs", [])
        return base64.b64decode(kvs[0].get("value", "")).decode() if kvs else None

    def keys(self, prefix):
        """Every key starting with `prefix`."""
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        kvs = self._call("range", {"key": _b64(prefix), "range_end": _b64(end),
                                   "keys_only": True}).get("kvs", [])
        return sorted(base64.b64decode(kv["key"]).decode() for kv in kvs)

    def delete(self, key):
        self._call("deleterange", {"key": _b64(key)})

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self):
        self.kill()
        if self.log:
            self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)
