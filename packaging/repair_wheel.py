#!/usr/bin/env python3
"""Makes a built wheel self-contained, the way auditwheel does, with our own code.

Every ELF file of the wheel (extensions, programs, whatever a later change adds)
is examined: each shared library it needs, directly or through other libraries,
that a manylinux system does not provide (see SYSTEM_LIBRARIES) is copied into
<libs-dir>/ at the wheel's root under a hashed name (libfoo.so.1 ->
libfoo-<sha256[:8]>.so.1, so a process may hold another copy of libfoo
unharmed), the references to it are rewritten with patchelf and each file gets
an $ORIGIN-relative RUNPATH to <libs-dir>. The platform tag becomes
manylinux_2_X_<arch>, X being the highest GLIBC_2.X symbol version any ELF file
of the repaired wheel needs (read from the files, not assumed).

    repair_wheel.py WHEEL [-w OUTDIR] [--libs-dir mooncake.libs]
    repair_wheel.py --show WHEEL     # tag, glibc/libstdc++ needs, size, ELF files

Needs readelf (binutils), ldd (libc-bin) and patchelf on the build machine.
"""

import argparse
import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

# What the manylinux policies let a wheel take from the system (glibc's
# libraries, the GCC runtime); everything else is bundled.
SYSTEM_LIBRARIES = {
    "libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0",
    "libresolv.so.2", "libutil.so.1", "libnsl.so.1", "libgcc_s.so.1", "libstdc++.so.6",
    "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "linux-vdso.so.1",
}
# Libraries that must come from the host (kernel drivers' user-space halves,
# with plugins of their own): never bundled, and a wheel linking them is
# refused, since they are to be opened with dlopen.
HOST_ONLY_LIBRARIES = {"libibverbs.so.1", "librdmacm.so.1", "libcuda.so.1", "libnvidia-ml.so.1"}

ELF_MACHINES = {62: "x86_64", 183: "aarch64"}
DEFAULT_LIBS_DIR = "mooncake.libs"


class RepairError(RuntimeError):
    pass


def run(command):
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        raise RepairError(f"{' '.join(command)} failed: {finished.stderr.strip()}")
    return finished.stdout


# ---------------------------------------------------------------------------
# ELF inspection


def elf_machine(path):
    """The ELF e_machine of `path`, or None when it is no ELF file."""
    with open(path, "rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    byteorder = "little" if header[5] == 1 else "big"
    return int.from_bytes(header[18:20], byteorder)


def elf_files(root):
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            if os.path.isfile(path) and not os.path.islink(path) and elf_machine(path):
                found.append(path)
    return sorted(found)


def dynamic_entries(path):
    """(NEEDED list, SONAME or None) from the dynamic section."""
    needed, soname = [], None
    for line in run(["readelf", "-dW", path]).splitlines():
        match = re.search(r"\((NEEDED|SONAME)\)\s+\S+.*\[(.+)\]", line)
        if match and match.group(1) == "NEEDED":
            needed.append(match.group(2))
        elif match:
            soname = match.group(2)
    return needed, soname


def required_versions(path):
    """Version names (GLIBC_2.34, GLIBCXX_3.4.30, ...) `path` needs."""
    names, in_needs = set(), False
    for line in run(["readelf", "-VW", path]).splitlines():
        if line.startswith("Version needs section"):
            in_needs = True
        elif line.startswith("Version") and "section" in line:
            in_needs = False
        elif in_needs:
            match = re.search(r"Name: (\S+)", line)
            if match:
                names.add(match.group(1))
    return names


def highest_version(names, prefix):
    """The highest numeric version among names 'PREFIX_a.b.c' as a tuple."""
    best = None
    for name in names:
        if name.startswith(prefix + "_"):
            try:
                version = tuple(int(part) for part in name[len(prefix) + 1:].split("."))
            except ValueError:
                continue
            best = version if best is None or version > best else best
    return best


def resolved_dependencies(path):
    """{soname: path} of every library the loader maps for `path` (ldd)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "LD_LIBRARY_PATH")}
    finished = subprocess.run(["ldd", path], capture_output=True, text=True, env=environment)
    if finished.returncode != 0:
        raise RepairError(f"ldd {path} failed: {finished.stderr.strip() or finished.stdout.strip()}")
    dependencies = {}
    for line in finished.stdout.splitlines():
        match = re.match(r"\s*(\S+) => (.+?)(?: \(0x[0-9a-f]+\))?$", line)
        if not match:
            continue
        name, target = match.group(1), match.group(2).strip()
        if target == "not found":
            raise RepairError(f"{path} needs {name}, which is not found on this machine")
        dependencies[name] = os.path.realpath(target)
    return dependencies


# ---------------------------------------------------------------------------
# Bundling


def hashed_name(soname, source):
    with open(source, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:8]
    stem, dot, rest = soname.partition(".so")
    return f"{stem}-{digest}{dot}{rest}"


def collect_libraries(root, elves, libs_dir):
    """{soname: source path} of the libraries to bundle for `elves`."""
    bundle = {}
    for elf in elves:
        for name, target in resolved_dependencies(elf).items():
            if name in HOST_ONLY_LIBRARIES:
                raise RepairError(f"{os.path.relpath(elf, root)} links {name}, which must come "
                                  "from the host: open it with dlopen instead of linking it")
            if name in SYSTEM_LIBRARIES or target.startswith(libs_dir + os.sep):
                continue
            if target.startswith(root + os.sep):
                continue  # a library shipped elsewhere in the wheel
            bundle.setdefault(name, target)
    return bundle


def patch_file(path, renames, libs_dir, soname=None):
    needed, _ = dynamic_entries(path)
    if not needed and soname is None:
        return  # static, or needs nothing: no run path to set
    relative = os.path.relpath(libs_dir, os.path.dirname(path))
    runpath = "$ORIGIN" if relative == "." else "$ORIGIN/" + relative
    # One change per patchelf run: patchelf 0.14 corrupts the string table
    # when one run combines --set-soname, --replace-needed and --set-rpath.
    changes = []
    if soname is not None:
        changes.append(["--set-soname", soname])
    replacements = [arg for name in needed if name in renames
                    for arg in ("--replace-needed", name, renames[name])]
    if replacements:
        changes.append(replacements)
    # RUNPATH (patchelf's default), replacing whatever the build set.
    changes.append(["--set-rpath", runpath])
    mode = os.stat(path).st_mode
    os.chmod(path, mode | 0o200)
    for change in changes:
        run(["patchelf"] + change + [path])
    os.chmod(path, mode)
    after, after_soname = dynamic_entries(path)
    expected = [renames.get(name, name) for name in needed]
    if after != expected or (soname is not None and after_soname != soname):
        raise RepairError(f"patchelf left {path} with NEEDED {after}, SONAME {after_soname}; "
                          f"expected {expected}, {soname}")


def bundle_libraries(root, libs_dir_name):
    """Copies and patches; returns {original soname: bundled file name}."""
    libs_dir = os.path.join(root, libs_dir_name)
    elves = [path for path in elf_files(root) if not path.startswith(libs_dir + os.sep)]
    if not elves:
        raise RepairError("the wheel holds no ELF file: nothing to repair")
    bundle = collect_libraries(root, elves, libs_dir)
    os.makedirs(libs_dir, exist_ok=True)
    renames = {name: hashed_name(name, source) for name, source in bundle.items()}
    for name, source in sorted(bundle.items()):
        destination = os.path.join(libs_dir, renames[name])
        shutil.copyfile(source, destination)
        os.chmod(destination, 0o755)
        patch_file(destination, renames, libs_dir, soname=renames[name])
    for elf in elves:
        patch_file(elf, renames, libs_dir)
    return renames


def verify_closure(root, libs_dir_name):
    """Every ELF file's dependencies are system libraries or bundled ones."""
    libs_dir = os.path.join(root, libs_dir_name)
    for elf in elf_files(root):
        for name, target in resolved_dependencies(elf).items():
            inside = target.startswith(libs_dir + os.sep)
            if not inside and name not in SYSTEM_LIBRARIES:
                raise RepairError(f"{os.path.relpath(elf, root)} still loads {name} from {target}")


# ---------------------------------------------------------------------------
# Tags, metadata, archive


def glibc_platform_tag(root):
    """manylinux_2_X_<arch> for the highest GLIBC_2.X any ELF file needs."""
    highest, machines = (2, 17), set()
    for elf in elf_files(root):
        machines.add(elf_machine(elf))
        version = highest_version(required_versions(elf), "GLIBC")
        if version is not None and version[:2] > highest:
            highest = version[:2]
    if len(machines) != 1 or next(iter(machines)) not in ELF_MACHINES:
        raise RepairError(f"ELF files of unknown or mixed machines: {sorted(machines)}")
    return f"manylinux_{highest[0]}_{highest[1]}_{ELF_MACHINES[machines.pop()]}"


def dist_info_dir(root):
    found = [name for name in os.listdir(root) if name.endswith(".dist-info")]
    if len(found) != 1:
        raise RepairError(f"expected one .dist-info directory, found {found}")
    return os.path.join(root, found[0])


def retag(root, platform):
    """Rewrites the WHEEL file's tags; returns the new 'py-abi-platform'."""
    wheel_file = os.path.join(dist_info_dir(root), "WHEEL")
    with open(wheel_file, encoding="utf-8") as f:
        lines = f.read().splitlines()
    tags, out = [], []
    for line in lines:
        if line.startswith("Tag:"):
            python, abi, _ = line.split(":", 1)[1].strip().split("-")
            tag = f"{python}-{abi}-{platform}"
            if tag not in tags:
                tags.append(tag)
                out.append(f"Tag: {tag}")
        elif line.startswith("Root-Is-Purelib:"):
            out.append("Root-Is-Purelib: false")
        else:
            out.append(line)
    if not tags:
        raise RepairError(f"{wheel_file} has no Tag line")
    with open(wheel_file, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    pythons = ".".join(sorted({t.split("-")[0] for t in tags}))
    abis = ".".join(sorted({t.split("-")[1] for t in tags}))
    return f"{pythons}-{abis}-{platform}"


def file_digest(path):
    with open(path, "rb") as f:
        data = f.read()
    encoded = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={encoded}", len(data)


def write_archive(root, destination):
    """Zips `root` into `destination` with a fresh RECORD (written last)."""
    info_dir = os.path.relpath(dist_info_dir(root), root)
    record_name = f"{info_dir}/RECORD"
    files = []
    for directory, _, names in os.walk(root):
        for name in names:
            relative = os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/")
            if relative != record_name:
                files.append(relative)
    # Package files first, metadata after them, RECORD last (as wheel does).
    files.sort(key=lambda name: (name.startswith(info_dir + "/"), name))
    record_lines = []
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in files:
            path = os.path.join(root, relative)
            digest, size = file_digest(path)
            record_lines.append(f"{relative},{digest},{size}")
            entry = zipfile.ZipInfo(relative, date_time=(2020, 1, 1, 0, 0, 0))
            entry.external_attr = (os.stat(path).st_mode & 0xFFFF) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as f:
                archive.writestr(entry, f.read())
        record_lines.append(f"{record_name},,")
        entry = zipfile.ZipInfo(record_name, date_time=(2020, 1, 1, 0, 0, 0))
        entry.external_attr = 0o644 << 16
        archive.writestr(entry, "\n".join(record_lines) + "\n", zipfile.ZIP_DEFLATED)


def extract(wheel, root):
    with zipfile.ZipFile(wheel) as archive:
        for entry in archive.infolist():
            archive.extract(entry, root)
            mode = entry.external_attr >> 16
            if mode:
                os.chmod(os.path.join(root, entry.filename), mode & 0o7777)


def wheel_name_prefix(wheel):
    """'dist-version' of a wheel file name (the part before the tags)."""
    parts = os.path.basename(wheel)[:-len(".whl")].split("-")
    if len(parts) < 5:
        raise RepairError(f"{wheel} is not named like a wheel")
    return "-".join(parts[:-3])


def repair(wheel, out_dir, libs_dir_name=DEFAULT_LIBS_DIR):
    """Writes the repaired wheel into out_dir; returns its path."""
    with tempfile.TemporaryDirectory(prefix="repair_wheel.") as scratch:
        root = os.path.join(os.path.realpath(scratch), "root")
        extract(wheel, root)
        renames = bundle_libraries(root, libs_dir_name)
        verify_closure(root, libs_dir_name)
        tags = retag(root, glibc_platform_tag(root))
        os.makedirs(out_dir, exist_ok=True)
        destination = os.path.join(out_dir, f"{wheel_name_prefix(wheel)}-{tags}.whl")
        partial = destination + ".partial"
        write_archive(root, partial)
        os.replace(partial, destination)
    print(f"repair_wheel: bundled {len(renames)} libraries into {libs_dir_name}/; "
          f"{os.path.basename(destination)} ({os.path.getsize(destination) / 2**20:.1f} MiB)")
    return destination


def show(wheel):
    """Prints what the wheel's ELF files need from the system."""
    with tempfile.TemporaryDirectory(prefix="repair_wheel.") as scratch:
        extract(wheel, scratch)
        versions = set()
        elves = elf_files(scratch)
        for elf in elves:
            versions |= required_versions(elf)
        print(f"wheel: {os.path.basename(wheel)}")
        print(f"size: {os.path.getsize(wheel)} bytes ({os.path.getsize(wheel) / 2**20:.1f} MiB)")
        print(f"platform tag from the ELF files: {glibc_platform_tag(scratch)}")
        for prefix in ("GLIBC", "GLIBCXX", "CXXABI", "GCC"):
            version = highest_version(versions, prefix)
            if version is not None:
                print(f"highest {prefix}: {'.'.join(map(str, version))}")
        print(f"ELF files: {len(elves)}")
        for elf in elves:
            print(f"  {os.path.relpath(elf, scratch)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel")
    parser.add_argument("-w", "--wheel-dir", help="output directory (default: the wheel's)")
    parser.add_argument("--libs-dir", default=DEFAULT_LIBS_DIR)
    parser.add_argument("--show", action="store_true", help="only report on the wheel")
    parser.add_argument("--replace", action="store_true",
                        help="delete the input wheel once the repaired one is written")
    arguments = parser.parse_args(argv)
    try:
        if arguments.show:
            show(arguments.wheel)
            return 0
        out_dir = arguments.wheel_dir or os.path.dirname(os.path.abspath(arguments.wheel))
        repaired = repair(arguments.wheel, out_dir, arguments.libs_dir)
        if arguments.replace and os.path.abspath(repaired) != os.path.abspath(arguments.wheel):
            os.remove(arguments.wheel)
    except RepairError as error:
        print(f"repair_wheel: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
