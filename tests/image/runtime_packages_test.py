"""Every shared library the image's binaries load must come from a Debian
package the image's runtime stage installs (k8s/runtime-packages.txt, the
list the Dockerfile installs from), so a missing runtime dependency fails
here, without a container engine. Usage:
  runtime_packages_test.py PACKAGES_FILE BINARY...
Also checks that it can fail: the same binaries against the list with one
needed package removed must be refused."""
import os
import subprocess
import sys


def needed_libraries(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libraries = []
    for line in out.splitlines():
        if "not found" in line:
            sys.exit(f"{binary}: {line.strip()}")
        parts = line.split("=>")
        if len(parts) == 2 and parts[1].split():
            path = parts[1].split()[0]
            if path.startswith("/"):
                libraries.append(path)
    return libraries


def owning_package(path):
    """dpkg -S, trying the path as ldd prints it, with and without /usr
    (Debian 12 merged /lib into /usr/lib, packages name either), and the
    file the symlink chain ends at."""
    real = os.path.realpath(path)
    candidates = [path, real]
    for p in (path, real):
        candidates.append(p[4:] if p.startswith("/usr/") else "/usr" + p)
    for candidate in candidates:
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.split(":")[0].strip()
    return None


def missing(binaries, packages):
    problems = []
    for binary in binaries:
        for library in needed_libraries(binary):
            package = owning_package(library)
            if package is None:
                problems.append(f"{os.path.basename(binary)}: {library} belongs to no Debian package")
            elif package not in packages:
                problems.append(f"{os.path.basename(binary)}: {library} is in package {package}, "
                                f"which the runtime image does not install")
    return problems


def main():
    packages_file, binaries = sys.argv[1], sys.argv[2:]
    with open(packages_file) as f:
        packages = {line.split("#")[0].strip() for line in f} - {""}
    problems = missing(binaries, packages)
    if problems:
        print("\n".join(sorted(set(problems))))
        sys.exit(1)
    needed = {owning_package(lib) for b in binaries for lib in needed_libraries(b)}
    print(f"{len(binaries)} binaries need {len(needed)} packages, all installed by the runtime image")
    unused = sorted(packages - needed)
    if unused:
        print("installed but not needed by these binaries:", " ".join(unused))
    # The check can fail: drop one needed package and it must be refused.
    dropped = sorted(needed)[0]
    if not missing(binaries, packages - {dropped}):
        sys.exit(f"self-test: removing {dropped} from the list was not noticed")
    print(f"self-test: the list without {dropped} is refused")


if __name__ == "__main__":
    main()
