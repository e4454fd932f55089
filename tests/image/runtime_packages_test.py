"""Every shared library the image's binaries load must come from a Debian
package the image's runtime stage installs (the lists the Dockerfile
installs from, with what apt installs with them: their Depends, followed
through), so a missing runtime dependency fails here, without a container
engine. Usage:
  runtime_packages_test.py PACKAGES_FILE[,PACKAGES_FILE...] BINARY...
A listed package no binary needs fails too. Also checks that it can fail: the same binaries against the list with one
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


def candidates(path):
    """The names dpkg may know a library by: as ldd prints it, the file its
    symlinks end at, and each with and without /usr (Debian 12 merged /lib
    into /usr/lib; packages name either)."""
    real = os.path.realpath(path)
    names = [path, real]
    for p in (path, real):
        names.append(p[4:] if p.startswith("/usr/") else "/usr" + p)
    return names


def owners(libraries):
    """Library path -> owning package (None if no package has it), from one
    dpkg -S over every candidate name."""
    names = sorted({name for library in libraries for name in candidates(library)})
    out = subprocess.run(["dpkg", "-S", *names], capture_output=True, text=True).stdout
    package_of = {}
    for line in out.splitlines():
        packages, _, path = line.partition(": ")
        package_of[path.strip()] = packages.split(",")[0].strip().split(":")[0]  # No ":amd64".
    return {library: next((package_of[n] for n in candidates(library) if n in package_of), None)
            for library in libraries}


def closure(packages):
    """The packages and, recursively, what they depend on (as apt installs
    them), from the installed packages' Depends fields."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Depends}\t${Pre-Depends}\n"],
                         capture_output=True, text=True, check=True).stdout
    depends = {}
    for line in out.splitlines():
        name, *fields = line.split("\t")
        alternatives = [a for f in fields for a in f.split(",") if a.strip()]
        # The first alternative of each dependency, without version or arch.
        depends[name] = [a.split("|")[0].split("(")[0].split(":")[0].strip() for a in alternatives]
    result, todo = set(), list(packages)
    while todo:
        package = todo.pop()
        if package not in result:
            result.add(package)
            todo.extend(depends.get(package, []))
    return result


def missing(needed, owner, packages):
    problems = []
    for binary, libraries in needed.items():
        for library in libraries:
            package = owner[library]
            if package is None:
                problems.append(f"{os.path.basename(binary)}: {library} belongs to no Debian package")
            elif package not in packages:
                problems.append(f"{os.path.basename(binary)}: {library} is in package {package}, "
                                f"which the runtime image does not install")
    return problems


def main():
    packages_files, binaries = sys.argv[1].split(","), sys.argv[2:]
    listed = set()
    for packages_file in packages_files:
        with open(packages_file) as f:
            listed |= {line.split("#")[0].strip() for line in f} - {""}
    packages = closure(listed)
    needed = {binary: needed_libraries(binary) for binary in binaries}
    owner = owners({library for libraries in needed.values() for library in libraries})
    problems = missing(needed, owner, packages)
    if problems:
        print("\n".join(sorted(set(problems))))
        sys.exit(1)
    used = set(owner.values())
    print(f"{len(binaries)} binaries need {len(used)} packages, all installed by the runtime image "
          f"({len(listed)} listed, {len(packages)} with their dependencies)")
    unused = sorted(p for p in listed if not closure({p}) & used)
    if unused:  # Only runtime packages: a stale entry is an image larger than it needs.
        sys.exit("installed but needed by none of these binaries: " + " ".join(unused))
    # The check can fail: drop one needed package and it must be refused.
    dropped = sorted(used & listed)[0]
    if not missing(needed, owner, closure(listed - {dropped}) - {dropped}):
        sys.exit(f"self-test: removing {dropped} from the list was not noticed")
    print(f"self-test: the list without {dropped} is refused")


if __name__ == "__main__":
    main()
