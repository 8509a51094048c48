"""Builds the mooncake wheel: runs CMake for the extension mooncake._store and
the bundled programs, then places them inside the package.

Environment:
  MOONCAKE_BUILD_DIR    reuse this already-configured CMake build directory
                        (CI builds once); only the package target is built.
  MOONCAKE_BUILD_TYPE   CMake build type of a fresh build (default Release).
  MOONCAKE_CMAKE_ARGS   extra arguments for a fresh configure.
  CMAKE_BUILD_PARALLEL_LEVEL  build jobs (default: number of CPUs).
  MOONCAKE_STRIP        "0" keeps debug information in the packaged binaries
                        (stripped with `strip --strip-debug` by default).
  MOONCAKE_REPAIR_WHEEL "0" leaves the wheel as built: linked against this
                        machine's libraries, tagged linux_<arch>. By default
                        packaging/repair_wheel.py bundles the libraries into
                        mooncake.libs/ and tags it manylinux_2_X (docs/install.md).
"""

import os
import re
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1: the wheel package's command
    from wheel.bdist_wheel import bdist_wheel

ROOT = os.path.dirname(os.path.abspath(__file__))
PACKAGE_TARGET = "mooncake_python_package"


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as cmake_lists:
        match = re.search(r"project\(\s*Mooncake\s+VERSION\s+([0-9][0-9.]*)", cmake_lists.read())
    if not match:
        raise RuntimeError("cannot find the project version in CMakeLists.txt")
    return match.group(1)


class CMakeExtension(Extension):
    """An extension whose binary CMake builds (no sources for setuptools)."""

    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def run(self):
        build_dir = self._cmake_build_dir()
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
        self._run(["cmake", "--build", build_dir, "--target", PACKAGE_TARGET, "-j", jobs])
        self._install_artifacts(build_dir)

    def _cmake_build_dir(self):
        reused = os.environ.get("MOONCAKE_BUILD_DIR")
        if reused:
            build_dir = os.path.abspath(reused)
            if not os.path.isfile(os.path.join(build_dir, "CMakeCache.txt")):
                raise RuntimeError(f"MOONCAKE_BUILD_DIR={reused} is not a configured CMake build")
            return build_dir
        build_dir = os.path.abspath(os.path.join(self.build_temp, "cmake"))
        os.makedirs(build_dir, exist_ok=True)
        build_type = os.environ.get("MOONCAKE_BUILD_TYPE", "Release")
        self._run([
            "cmake", "-S", ROOT, "-B", build_dir,
            f"-DCMAKE_BUILD_TYPE={build_type}",
            "-DMOONCAKE_BUILD_PYTHON=ON",
            "-DMOONCAKE_BUILD_TESTS=OFF",
            "-DMOONCAKE_BUILD_BENCH=OFF",
            f"-DPython_EXECUTABLE={sys.executable}",
        ] + shlex.split(os.environ.get("MOONCAKE_CMAKE_ARGS", "")))
        return build_dir

    def _install_artifacts(self, build_dir):
        manifest = os.path.join(build_dir, "python", "package_manifest.txt")
        if not os.path.isfile(manifest):
            raise RuntimeError(
                f"{manifest} is missing: the build has no Python extension "
                "(is the client library built and MOONCAKE_BUILD_PYTHON=ON?)")
        extension, programs = None, []
        with open(manifest, encoding="utf-8") as lines:
            for line in lines:
                kind, _, path = line.strip().partition("=")
                if kind == "extension":
                    extension = path
                elif kind == "program":
                    programs.append(path)
        if extension is None:
            raise RuntimeError(f"{manifest} names no extension")

        target = self.get_ext_fullpath("mooncake._store")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(extension, target)
        self._strip(target)

        package_dir = os.path.dirname(target)
        with open(os.path.join(package_dir, "_version.py"), "w", encoding="utf-8") as out:
            out.write(f'__version__ = "{project_version()}"\n')
        bin_dir = os.path.join(package_dir, "bin")
        os.makedirs(bin_dir, exist_ok=True)
        for program in programs:
            destination = os.path.join(bin_dir, os.path.basename(program))
            shutil.copyfile(program, destination)
            os.chmod(destination, 0o755)
            self._strip(destination)

    def _strip(self, path):
        if os.environ.get("MOONCAKE_STRIP", "1") == "0" or shutil.which("strip") is None:
            return
        self._run(["strip", "--strip-debug", path])

    def _run(self, command):
        print("+", " ".join(shlex.quote(part) for part in command), flush=True)
        subprocess.check_call(command, cwd=ROOT)


class RepairedWheel(bdist_wheel):
    """bdist_wheel, then packaging/repair_wheel.py over the whole wheel, so
    every ELF file in it (whichever extension or program) is made
    self-contained; the repaired wheel replaces the plain one in dist_dir."""

    def run(self):
        super().run()
        if os.environ.get("MOONCAKE_REPAIR_WHEEL", "1") == "0":
            return
        sys.path.insert(0, os.path.join(ROOT, "packaging"))
        import repair_wheel

        for index, (command, python, wheel) in enumerate(self.distribution.dist_files):
            if command != "bdist_wheel" or not os.path.isfile(wheel):
                continue
            try:
                repaired = repair_wheel.repair(wheel, os.path.dirname(wheel))
            except repair_wheel.RepairError as error:
                raise RuntimeError(f"repair_wheel: {error} (MOONCAKE_REPAIR_WHEEL=0 skips it)")
            if os.path.abspath(repaired) != os.path.abspath(wheel):
                os.remove(wheel)
            self.distribution.dist_files[index] = (command, python, repaired)


setup(
    version=project_version(),
    # Keep setuptools' own output out of build/, a common CMake build folder.
    options={"build": {"build_base": os.path.join("_build", "setuptools")}},
    ext_modules=[CMakeExtension("mooncake._store")],
    cmdclass={"build_ext": CMakeBuild, "bdist_wheel": RepairedWheel},
)
