"""The installed package with rdma-core present on the host: libibverbs is
opened at run time (never linked), and an RDMA setup either works or fails with
the message docs/rdma.md documents. Also what the wheel repair leaves in the
installed files (packaging/repair_wheel.py; docs/install.md)."""

import ctypes
import os
import subprocess
import sys
import sysconfig

import pytest

import mooncake
from conftest import setup_args

PACKAGE_DIR = os.path.dirname(os.path.abspath(mooncake.__file__))
LIBS_DIR = os.path.join(os.path.dirname(PACKAGE_DIR), "mooncake.libs")


def elf_files(top):
    for directory, _, names in os.walk(top):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    yield path


def dynamic_section(path):
    return subprocess.run(["readelf", "-dW", path], capture_output=True, text=True,
                          check=True).stdout


def libibverbs_on_host():
    try:
        ctypes.CDLL("libibverbs.so.1")
        return True
    except OSError:
        return False


def test_no_installed_binary_links_libibverbs():
    tops = [PACKAGE_DIR] + ([LIBS_DIR] if os.path.isdir(LIBS_DIR) else [])
    elves = [path for top in tops for path in elf_files(top)]
    assert elves, f"no ELF file under {PACKAGE_DIR}"
    for path in elves:
        section = dynamic_section(path)
        assert "libibverbs" not in section, f"{path} links libibverbs:\n{section}"
        assert "librdmacm" not in section, f"{path} links librdmacm"


def test_repaired_install_finds_bundled_libraries_through_origin():
    if not os.path.isdir(LIBS_DIR):
        pytest.skip("installed from an unrepaired wheel (MOONCAKE_REPAIR_WHEEL=0)")
    extension = [p for p in elf_files(PACKAGE_DIR) if p.endswith(sysconfig.get_config_var("EXT_SUFFIX"))]
    assert extension
    for path in extension + list(elf_files(os.path.join(PACKAGE_DIR, "bin"))):
        section = dynamic_section(path)
        assert "(RUNPATH)" in section and "$ORIGIN/" in section, f"{path}:\n{section}"
        assert "libgrpc++.so" not in section, f"{path} still names the system gRPC"
    bundled = os.listdir(LIBS_DIR)
    # Hashed names, and the base system's libraries are not among them.
    assert any(name.startswith("libgrpc++-") for name in bundled), bundled
    assert not any(name.startswith(("libc.", "libstdc++", "libgcc_s", "libm.")) for name in bundled)


RDMA_SETUP = """
import sys
from mooncake.store import MooncakeDistributedStore
args = {args!r}
store = MooncakeDistributedStore()
rc = store.setup(**args)
print("setup returned", rc, flush=True)
store.close()
"""

DOCUMENTED_FAILURES = (
    "RDMA transport unavailable: RDMA device 'mlx5_0' named in rdma_devices was not found",
    "RDMA transport unavailable: device mlx5_0 could not be opened",
    "RDMA transport unavailable: libibverbs.so.1 cannot be loaded",
)


def test_rdma_setup_works_or_fails_with_the_documented_message(master):
    args = setup_args(master, protocol="rdma", rdma_devices="mlx5_0")
    finished = subprocess.run([sys.executable, "-c", RDMA_SETUP.format(args=args)],
                              capture_output=True, text=True, timeout=120)
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output
    if "setup returned 0" in output:
        return  # this host has an RDMA NIC named mlx5_0
    assert any(message in output for message in DOCUMENTED_FAILURES), output
    if libibverbs_on_host():
        # rdma-core is here, so it was loaded and asked for the device.
        assert "libibverbs.so.1 cannot be loaded" not in output, output
