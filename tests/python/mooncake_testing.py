"""Helpers of the pytest suite: a real mooncake_master on free loopback ports,
stores driven in separate processes, and polling with generous deadlines."""

import glob
import os
import pickle
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "store_worker.py")

# Generous: the suite runs on loaded 2-core machines.
DEFAULT_DEADLINE_S = 60.0


class MasterUnavailable(RuntimeError):
    pass


def unique_key(prefix="key"):
    return f"{prefix}-{uuid.uuid4().hex}"


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers bind: a port whose last connection is in TIME_WAIT
        # is free for them (Linux still refuses a port someone listens on).
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until(condition, deadline_s=DEFAULT_DEADLINE_S, interval_s=0.05, what="condition"):
    """Polls `condition` until it returns a truthy value, which is returned."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {deadline_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


def wait_or_kill(process, timeout_s):
    """Waits up to timeout_s for `process` to exit, then SIGKILLs it (a
    stuck process must not hang the suite)."""
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _find_program(name, variable, build_subdir):
    """$variable as it is (executable or not: the caller decides), the
    binary bundled with the installed package, the one on PATH, or the
    newest one in a build directory of this checkout; None when none is."""
    explicit = os.environ.get(variable)
    if explicit:
        return explicit
    try:
        from mooncake.cli import bundled_program
        bundled = bundled_program(name)
        if bundled:
            return bundled
    except ImportError:
        pass
    on_path = shutil.which(name)
    if on_path:
        return on_path
    built = [path for path in glob.glob(os.path.join(REPO_ROOT, "build*", build_subdir, name))
             if os.access(path, os.X_OK)]
    return max(built, key=os.path.getmtime) if built else None


def find_master_binary():
    """MOONCAKE_MASTER_BIN, the binary bundled with the installed package, the
    one on PATH, or the newest one in a build directory of this checkout."""
    found = _find_program("mooncake_master", "MOONCAKE_MASTER_BIN", os.path.join("src", "master"))
    if found is None:
        raise MasterUnavailable(
            "no mooncake_master found: set MOONCAKE_MASTER_BIN, install the package, or build it")
    # Only an explicit MOONCAKE_MASTER_BIN can be a path that does not run.
    if not os.access(found, os.X_OK):
        raise MasterUnavailable(f"MOONCAKE_MASTER_BIN={found} is not executable")
    return found


def find_client_binary():
    """The standalone mooncake_client, found like mooncake_master:
    MOONCAKE_CLIENT_BIN, the bundled one, PATH, the newest build; None when
    there is none (or MOONCAKE_CLIENT_BIN is not executable)."""
    found = _find_program("mooncake_client", "MOONCAKE_CLIENT_BIN", os.path.join("src", "tools"))
    return found if found and os.access(found, os.X_OK) else None


class MasterProcess:
    """A real mooncake_master with its embedded HTTP metadata server, listening
    on free loopback ports (or the ports given)."""

    def __init__(self, binary, extra_args=(), port=None, http_port=None):
        self.binary = binary
        self.extra_args = list(extra_args)
        self._fixed_port = port
        self._fixed_http_port = http_port
        self.process = None
        self.log = None

    @property
    def rpc_address(self):
        return f"127.0.0.1:{self.port}"

    @property
    def metadata_url(self):
        return f"http://127.0.0.1:{self.http_port}/metadata"

    def start(self, attempts=3):
        last_error = None
        for _ in range(attempts):
            try:
                self._start_once()
                return self
            except MasterUnavailable as error:  # a port was taken meanwhile: try others
                last_error = error
                self.stop()
        raise last_error

    def _start_once(self):
        self.port = self._fixed_port or free_port()
        self.http_port = self._fixed_http_port or free_port()
        self.metrics_port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="mooncake_master_", suffix=".log",
                                               delete=False)
        command = [
            self.binary,
            f"--port={self.port}",
            "--rpc_address=127.0.0.1",
            "--enable_http_metadata_server=true",
            "--http_metadata_server_host=127.0.0.1",
            f"--http_metadata_server_port={self.http_port}",
            f"--metrics_port={self.metrics_port}",
            "--hot_rpc_port=0",
            "--logtostderr=1",
        ] + self.extra_args
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + DEFAULT_DEADLINE_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise MasterUnavailable(
                    f"mooncake_master exited with {self.process.returncode}:\n{self.log_text()}")
            # The HTTP server comes up before gRPC: wait for both.
            if self._healthy() and self._accepting(self.port):
                return
            time.sleep(0.05)
        raise MasterUnavailable(f"mooncake_master not healthy in time:\n{self.log_text()}")

    def _healthy(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/health",
                                        timeout=2) as reply:
                return reply.status == 200
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    @staticmethod
    def _accepting(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return True
        except OSError:
            return False

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                    timeout=5) as reply:
            return reply.read().decode()

    def log_text(self):
        if self.log is None:
            return ""
        with open(self.log.name, "r", errors="replace") as log:
            return log.read()[-4000:]

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            wait_or_kill(self.process, 20)
        self.process = None
        if self.log is not None:
            self.log.close()
            os.unlink(self.log.name)
            self.log = None


class RemoteError(Exception):
    """An exception raised inside a store worker process."""


class RemoteStore:
    """A MooncakeDistributedStore living in its own Python process. Methods are
    called by name (`remote.put(...)`) and return plain values: BufferHandle ->
    bytes, descriptors -> dicts, enums -> ints. `run(code)` executes code in
    the worker with `store`, `np` and `args` bound and returns its `result`."""

    def __init__(self, env=None, deadline_s=DEFAULT_DEADLINE_S):
        self.deadline_s = deadline_s
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        worker_env = dict(os.environ)
        worker_env.update(env or {})
        self.process = subprocess.Popen(
            [sys.executable, WORKER, str(request_read), str(reply_write)],
            pass_fds=(request_read, reply_write), env=worker_env, stdin=subprocess.DEVNULL)
        os.close(request_read)
        os.close(reply_write)
        self._requests = os.fdopen(request_write, "wb")
        self._replies = os.fdopen(reply_read, "rb")

    def call(self, method, *args, **kwargs):
        pickle.dump((method, args, kwargs), self._requests)
        self._requests.flush()
        ready, _, _ = select.select([self._replies], [], [], self.deadline_s)
        if not ready:
            raise AssertionError(f"store worker did not answer {method} in {self.deadline_s}s")
        try:
            ok, value = pickle.load(self._replies)
        except EOFError:
            raise RemoteError(f"store worker died during {method} "
                              f"(exit code {self.process.poll()})") from None
        if not ok:
            raise RemoteError(value)
        return value

    def run(self, code, **args):
        return self.call("__run__", code, **args)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    # `with RemoteStore() as store:` stops the worker however the block ends.
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def kill(self):
        """SIGKILL: the worker gets no chance to close its store."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._close_pipes()

    def stop(self):
        if self.process.poll() is None:
            try:
                self.call("__exit__")
            except (RemoteError, AssertionError, BrokenPipeError, OSError):
                pass
            wait_or_kill(self.process, 30)
        self._close_pipes()

    def _close_pipes(self):
        for stream in (self._requests, self._replies):
            try:
                stream.close()
            except OSError:
                pass
