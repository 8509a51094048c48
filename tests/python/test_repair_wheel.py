"""packaging/repair_wheel.py on small wheels made here: what it bundles, how it
renames and links, the tag it computes, the metadata it rewrites, and what it
refuses. (tests/packaging/test_wheel_bare_root.sh runs the real wheel on a
bare Debian root.)"""

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from mooncake_testing import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "packaging"))
import repair_wheel  # noqa: E402

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("patchelf", "readelf", "ldd", "cc")),
    reason="needs patchelf, readelf, ldd and a C compiler")

# A program whose libraries are not all on a manylinux system: zlib is not.
PROGRAM = r"""
#include <stdio.h>
#include <zlib.h>
int main(void) { printf("zlib %s\n", zlibVersion()); return 0; }
"""


def compile_program(tmp_path, source, libraries):
    source_file = tmp_path / "program.c"
    source_file.write_text(source)
    output = tmp_path / "program"
    subprocess.run(["cc", str(source_file), "-o", str(output)] + [f"-l{l}" for l in libraries],
                   check=True, capture_output=True)
    return output


def make_wheel(tmp_path, program):
    """fake-1.0-cp311-cp311-linux_x86_64.whl holding mooncake/bin/<program>."""
    wheel = tmp_path / "fake-1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        entry = zipfile.ZipInfo("mooncake/bin/program")
        entry.external_attr = 0o755 << 16
        archive.writestr(entry, program.read_bytes())
        archive.writestr("mooncake/__init__.py", "")
        archive.writestr("fake-1.0.dist-info/METADATA",
                         "Metadata-Version: 2.1\nName: fake\nVersion: 1.0\n")
        archive.writestr("fake-1.0.dist-info/WHEEL",
                         "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
                         "Tag: cp311-cp311-linux_x86_64\n")
        archive.writestr("fake-1.0.dist-info/RECORD", "")
    return wheel


def dynamic_section(path):
    return subprocess.run(["readelf", "-dW", str(path)], capture_output=True, text=True,
                          check=True).stdout


def test_bundles_renames_and_links_through_origin(tmp_path):
    wheel = make_wheel(tmp_path, compile_program(tmp_path, PROGRAM, ["z"]))
    repaired = repair_wheel.repair(str(wheel), str(tmp_path / "out"))
    unpacked = tmp_path / "unpacked"
    repair_wheel.extract(repaired, str(unpacked))

    bundled = os.listdir(unpacked / "mooncake.libs")
    assert len(bundled) == 1 and bundled[0].startswith("libz-") and bundled[0].endswith(".so.1")
    program = unpacked / "mooncake" / "bin" / "program"
    section = dynamic_section(program)
    assert f"[{bundled[0]}]" in section and "[libz.so.1]" not in section
    assert "(RUNPATH)" in section and "[$ORIGIN/../../mooncake.libs]" in section
    assert f"(SONAME)             Library soname: [{bundled[0]}]" in dynamic_section(
        unpacked / "mooncake.libs" / bundled[0])
    # The repaired program runs and loads the bundled copy.
    loaded = repair_wheel.resolved_dependencies(str(program))
    assert loaded[bundled[0]] == os.path.realpath(unpacked / "mooncake.libs" / bundled[0])
    assert subprocess.run([str(program)], capture_output=True, text=True).stdout.startswith("zlib")


def test_tag_comes_from_the_highest_glibc_version_needed(tmp_path):
    program = compile_program(tmp_path, PROGRAM, ["z"])
    wheel = make_wheel(tmp_path, program)
    repaired = repair_wheel.repair(str(wheel), str(tmp_path / "out"))
    unpacked = tmp_path / "unpacked"
    repair_wheel.extract(repaired, str(unpacked))
    highest = (2, 17)
    for elf in repair_wheel.elf_files(str(unpacked)):
        version = repair_wheel.highest_version(repair_wheel.required_versions(elf), "GLIBC")
        highest = max(highest, version[:2]) if version else highest
    tag = f"manylinux_{highest[0]}_{highest[1]}_x86_64"
    assert os.path.basename(repaired) == f"fake-1.0-cp311-cp311-{tag}.whl"
    wheel_file = (unpacked / "fake-1.0.dist-info" / "WHEEL").read_text()
    assert f"Tag: cp311-cp311-{tag}" in wheel_file and "linux_x86_64\n" not in wheel_file


def test_highest_version_compares_numerically():
    names = {"GLIBC_2.9", "GLIBC_2.34", "GLIBC_2.2.5", "GLIBC_PRIVATE", "GLIBCXX_3.4.30"}
    assert repair_wheel.highest_version(names, "GLIBC") == (2, 34)
    assert repair_wheel.highest_version(names, "GLIBCXX") == (3, 4, 30)
    assert repair_wheel.highest_version(names, "CXXABI") is None


def test_record_lists_every_file_with_its_hash(tmp_path):
    wheel = make_wheel(tmp_path, compile_program(tmp_path, PROGRAM, ["z"]))
    repaired = repair_wheel.repair(str(wheel), str(tmp_path / "out"))
    with zipfile.ZipFile(repaired) as archive:
        names = archive.namelist()
        assert names[-1] == "fake-1.0.dist-info/RECORD"
        record = archive.read(names[-1]).decode().splitlines()
        listed = {line.rsplit(",", 2)[0]: line.rsplit(",", 2)[1:] for line in record}
        assert set(listed) == set(names)
        for name in names[:-1]:
            data = archive.read(name)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert listed[name] == [f"sha256={digest.decode()}", str(len(data))], name
        mode = archive.getinfo("mooncake/bin/program").external_attr >> 16
        assert mode & 0o111, "the program lost its execute bits"


def test_repairing_twice_changes_nothing_that_matters(tmp_path):
    wheel = make_wheel(tmp_path, compile_program(tmp_path, PROGRAM, ["z"]))
    once = repair_wheel.repair(str(wheel), str(tmp_path / "once"))
    twice = repair_wheel.repair(once, str(tmp_path / "twice"))
    assert os.path.basename(once) == os.path.basename(twice)
    with zipfile.ZipFile(once) as a, zipfile.ZipFile(twice) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())


@pytest.mark.skipif(not os.path.exists("/usr/include/infiniband/verbs.h"),
                    reason="needs libibverbs-dev to link a program against libibverbs")
def test_refuses_a_wheel_that_links_libibverbs(tmp_path):
    source = "#include <infiniband/verbs.h>\nint main(void) { int n; ibv_get_device_list(&n); }\n"
    wheel = make_wheel(tmp_path, compile_program(tmp_path, source, ["ibverbs"]))
    with pytest.raises(repair_wheel.RepairError, match="libibverbs.so.1.*dlopen"):
        repair_wheel.repair(str(wheel), str(tmp_path / "out"))


def test_command_line_show_reports_tag_and_size(tmp_path):
    wheel = make_wheel(tmp_path, compile_program(tmp_path, PROGRAM, ["z"]))
    script = os.path.join(REPO_ROOT, "packaging", "repair_wheel.py")
    repaired = subprocess.run([sys.executable, script, str(wheel), "-w", str(tmp_path / "o")],
                              capture_output=True, text=True)
    assert repaired.returncode == 0, repaired.stderr
    [output] = os.listdir(tmp_path / "o")
    shown = subprocess.run([sys.executable, script, "--show", str(tmp_path / "o" / output)],
                           capture_output=True, text=True, check=True).stdout
    assert "platform tag from the ELF files: manylinux_2_" in shown
    assert "highest GLIBC: 2." in shown and "size: " in shown
