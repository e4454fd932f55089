#!/usr/bin/env python3
"""Keeps the model core buildable where only a PyTorch exists.

Follows every #include from the core's sources (cmake/model_core_sources.cmake,
plus the standalone programs model_core/CMakeLists.txt builds) and fails
naming the file and line of any header that is not the C++ standard
library, POSIX, libtorch, nlohmann-json, ICU (unicode/), Abseil's Status (model_core/compat
stands in for it) or another file of the core. A protobuf, gRPC or Debian
library header creeping into the core would build here and break the GPU
build; this catches it without a GPU machine.
Usage: include_check.py [REPO_ROOT] | --self-test"""
import pathlib
import re
import sys
import tempfile

ROOT = pathlib.Path(__file__).parents[2]
ALLOWED_PREFIXES = ("torch/", "ATen/", "c10/", "nlohmann/", "unicode/")
COMPAT = ROOT / "model_core" / "compat"
POSIX = {"unistd.h", "fcntl.h", "getopt.h", "sys/mman.h", "sys/stat.h", "sys/types.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def core_sources():
    text = (ROOT / "cmake" / "model_core_sources.cmake").read_text()
    sources = re.findall(r"[\w/]+\.cc", text)
    programs = re.findall(r"\$\{GAUNTLET_ROOT\}/([\w/]+\.cc)",
                          (ROOT / "model_core" / "CMakeLists.txt").read_text())
    return [ROOT / s for s in sources + programs]


def allowed_system(name):
    if name.startswith(ALLOWED_PREFIXES) or name in POSIX:
        return True
    # The C++ standard library: <vector>, <cstdio>, ... (no extension, no folder).
    return "/" not in name and "." not in name


def check():
    sources = core_sources()
    missing = [str(s) for s in sources if not s.is_file()]
    if missing:
        print("model core sources listed but absent:", ", ".join(missing))
        return 1
    errors = []
    seen = set()
    queue = list(sources)
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        for match in INCLUDE.finditer(path.read_text()):
            kind, name = match.groups()
            line = path.read_text().count("\n", 0, match.start()) + 1
            where = f"{path.relative_to(ROOT)}:{line}"
            if kind == "<":
                if not allowed_system(name):
                    errors.append(f"{where}: <{name}> is not available where only PyTorch is")
            elif (COMPAT / name).is_file():
                continue
            elif (ROOT / name).is_file():
                header = ROOT / name
                queue.append(header)
                implementation = header.with_suffix(".cc")
                if implementation.is_file() and implementation not in sources:
                    errors.append(f"{where}: \"{name}\" belongs to {implementation.relative_to(ROOT)}, "
                                  "which is not in cmake/model_core_sources.cmake")
            else:
                errors.append(f"{where}: \"{name}\" is neither a source file nor in model_core/compat "
                              "(a generated header, e.g. protobuf's, cannot travel with the core)")
    for error in errors:
        print(error)
    print(f"{len(seen)} files of the model core checked, {len(errors)} problems")
    return 1 if errors else 0


def self_test():
    """A core that includes protobuf's generated header and gRPC must fail."""
    global ROOT, COMPAT
    with tempfile.TemporaryDirectory() as temp:
        ROOT = pathlib.Path(temp)
        COMPAT = ROOT / "model_core" / "compat"
        (ROOT / "cmake").mkdir()
        (ROOT / "model_core").mkdir()
        (ROOT / "cmake" / "model_core_sources.cmake").write_text("set(X core/a.cc)\n")
        (ROOT / "model_core" / "CMakeLists.txt").write_text("")
        (ROOT / "core").mkdir()
        (ROOT / "core" / "a.cc").write_text('#include <vector>\n#include "core/a.h"\n')
        (ROOT / "core" / "a.h").write_text('#include "gauntlet/v1/gauntlet.pb.h"\n'
                                           '#include <grpcpp/grpcpp.h>\n#include <torch/types.h>\n')
        if check() != 1:
            print("self-test: the checker passed a core that includes protobuf and gRPC")
            return 1
    print("self-test: ok")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    if sys.argv[1:]:
        ROOT = pathlib.Path(sys.argv[1])
        COMPAT = ROOT / "model_core" / "compat"
    sys.exit(check())
