"""The installed package: version, bundled programs and console commands.
Parts that need an installed wheel skip when running from a build tree."""

import importlib
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import mooncake
from mooncake import cli
from mooncake_testing import REPO_ROOT


def cmake_project_version():
    with open(os.path.join(REPO_ROOT, "CMakeLists.txt")) as cmake_lists:
        return re.search(r"project\(\s*Mooncake\s+VERSION\s+([0-9.]+)", cmake_lists.read()).group(1)


def test_version_is_the_cmake_project_version():
    assert mooncake.__version__ == cmake_project_version()


def test_allocator_module_imports_and_says_why_it_cannot_allocate():
    from mooncake.allocator import NVLinkAllocator
    with pytest.raises(RuntimeError, match="without CUDA"):
        NVLinkAllocator.get_allocator(0)


def test_store_module_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None; "
            "import mooncake.store as s; print(s.MooncakeDistributedStore().get('k'))")
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "b''"


@pytest.mark.parametrize("program", ["mooncake_master", "mooncake_client", "transfer_engine_bench"])
def test_console_command_runs_the_bundled_program(program):
    bundled = cli.bundled_program(program)
    # Console scripts live next to the interpreter (a venv's bin/) or on PATH.
    beside = os.path.join(os.path.dirname(sys.executable), program)
    command = beside if os.access(beside, os.X_OK) else shutil.which(program)
    if bundled is None or command is None:
        pytest.skip(f"{program} is not bundled in this installation")
    finished = subprocess.run([command, "--help"], capture_output=True, text=True, timeout=60)
    # gflags prints usage and exits non-zero for --help; what matters is that
    # the bundled binary, not the Python wrapper, produced it.
    output = finished.stdout + finished.stderr
    assert program in output
    assert "Traceback" not in output


@pytest.mark.parametrize("module, program", [("mooncake.cli", "mooncake_master"),
                                             ("mooncake.cli_client", "mooncake_client"),
                                             ("mooncake.cli_bench", "transfer_engine_bench")])
def test_missing_bundled_program_is_reported(monkeypatch, capsys, module, program):
    entry = importlib.import_module(module)
    monkeypatch.setattr(cli, "_BIN_DIR", "/nonexistent")
    with pytest.raises(SystemExit) as exit_info:
        entry.main()
    assert exit_info.value.code == 127
    assert program in capsys.readouterr().err


def test_launchers_restore_execute_bits_and_bench_returns_the_status(monkeypatch, tmp_path):
    from mooncake import cli_bench
    program = tmp_path / "transfer_engine_bench"
    program.write_text("#!/bin/sh\nexit 7\n")
    program.chmod(0o644)  # as an installer that dropped the bits leaves it
    monkeypatch.setattr(cli, "_BIN_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["transfer_engine_bench", "--seconds=1"])
    assert cli_bench.main() == 7  # a child process; its exit status comes back
    assert os.access(program, os.X_OK)


def run_topology_dump(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mooncake.transfer_engine_topology_dump", *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_topology_dump_prints_one_entry_per_numa_node():
    finished = run_topology_dump("--device-name", "")
    assert finished.returncode == 0, finished.stderr
    prefix = "Local topology [te/discover]: "
    assert finished.stdout.startswith(prefix)
    topology = json.loads(finished.stdout[len(prefix):])
    assert "cpu:0" in topology
    for preferred, others in topology.values():
        assert isinstance(preferred, list) and isinstance(others, list)


def test_topology_dump_custom_file_and_errors(tmp_path):
    path = tmp_path / "topo.json"
    path.write_text(json.dumps({"cpu:0": [["mlx5_0"], []]}))
    finished = run_topology_dump("--use-custom-topo", env={"MC_CUSTOM_TOPO_JSON": str(path)})
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == (f"Local topology [te/custom ({path})]: "
                                       '{"cpu:0": [["mlx5_0"], []]}')
    for args, env in [(["--use-custom-topo"], {"MC_CUSTOM_TOPO_JSON": ""}),
                      (["--custom-topo-json", str(tmp_path / "absent.json")], None),
                      (["--backend", "tent"], None)]:
        finished = run_topology_dump(*args, env=env)
        assert finished.returncode == 1
        assert finished.stderr.startswith("error: failed to dump topology: ")
        assert finished.stdout == ""
