"""Fixtures of the reliability suite.

The fixtures that start masters and stores are those of the API suite
(tests/python/conftest.py), loaded from there rather than copied; this file
adds the figure recorder each scenario fills for docs/reliability.md.

When pytest runs both suites in one session, `from conftest import ...` in the
API suite's modules may find this module under the name `conftest`: it
therefore re-exports everything those modules import from theirs.
"""

import importlib.util
import json
import os
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
API_SUITE = os.path.join(os.path.dirname(HERE), "python")
for path in (API_SUITE, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)


def _load_api_conftest():
    name = "mooncake_api_conftest"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(API_SUITE, "conftest.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_api = _load_api_conftest()

# Shared fixtures (pytest registers them for this directory) and helpers.
MiB = _api.MiB
STORE_DEFAULTS = _api.STORE_DEFAULTS
setup_args = _api.setup_args
set_up = _api.set_up
master_binary = _api.master_binary
master = _api.master
master_factory = _api.master_factory
store_factory = _api.store_factory
store = _api.store
remote_factory = _api.remote_factory

RESULTS_ENV = "MOONCAKE_RELIABILITY_RESULTS"


def results_dir():
    """Where each scenario writes its figures (one JSON file per test)."""
    path = os.environ.get(RESULTS_ENV) or os.path.join(tempfile.gettempdir(),
                                                       "mooncake-reliability")
    os.makedirs(path, exist_ok=True)
    return path


_recorded = []


class Figures(dict):
    """The measured figures of one scenario: ops run, bytes verified, faults
    injected, recovery times... Written to results_dir()/<test>.json and
    printed in pytest's summary."""

    def add(self, name, amount=1):
        self[name] = self.get(name, 0) + amount

    def max(self, name, value):
        self[name] = value if name not in self else max(self[name], value)


@pytest.fixture
def figures(request):
    recorded = Figures()
    started = time.monotonic()
    yield recorded
    recorded["duration_s"] = round(time.monotonic() - started, 1)
    recorded["outcome"] = "failed" if getattr(request.node, "rel_failed", False) else "passed"
    name = request.node.name
    with open(os.path.join(results_dir(), f"{name}.json"), "w") as out:
        json.dump({"test": request.node.nodeid, "figures": recorded}, out, indent=1,
                  sort_keys=True)
    _recorded.append((request.node.nodeid, dict(recorded)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        item.rel_failed = True


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long reliability scenario (still run in CI)")


def pytest_terminal_summary(terminalreporter):
    if not _recorded:
        return
    terminalreporter.section("reliability figures")
    for nodeid, recorded in _recorded:
        terminalreporter.write_line(nodeid)
        for name in sorted(recorded):
            terminalreporter.write_line(f"    {name} = {recorded[name]}")
    terminalreporter.write_line(f"(JSON in {results_dir()}; "
                                "tests/reliability/summarize.py turns it into a table)")
