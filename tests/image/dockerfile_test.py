"""What CI can check of k8s/Dockerfile without a container engine: every
stage starts from the digest-checked base (or an earlier stage), the base
refuses a BASE_IMAGE without a digest, the images that ship (eval and the
last stage) run as a non-root user and install only from the package lists
tests/image/runtime_packages_test.py checks. Checks that it can fail: the
same rules against a Dockerfile with a tag base and a root user.
Usage: dockerfile_test.py DOCKERFILE"""
import os
import re
import sys


def stages(text):
    """[(name, base, lines)] in order, with continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
        if match:
            result.append((match.group(2) or f"stage{len(result)}", match.group(1), []))
        elif result:
            result[-1][2].append(line)
    return result


def problems(text, k8s_dir):
    found = []
    parsed = stages(text)
    names = set()
    for name, base, lines in parsed:
        if base != "${BASE_IMAGE}" and base not in names:
            found.append(f"stage {name} starts from {base}, not the checked base")
        names.add(name)
    base_stage = next((s for s in parsed if s[1] == "${BASE_IMAGE}"), None)
    if not base_stage or not any("@sha256:" in line and "exit 1" in line for line in base_stage[2]):
        found.append("the base stage does not refuse a BASE_IMAGE without a digest")
    shipped = [s for s in parsed if s[0] == "eval"] + [parsed[-1]]
    for name, _, lines in shipped:
        users = [line.split()[1] for line in lines if line.upper().startswith("USER ")]
        if not users or users[-1].split(":")[0] in ("0", "root"):
            found.append(f"stage {name} runs as root")
        for listed in re.findall(r"k8s/(runtime-packages[\w-]*\.txt)", " ".join(lines)):
            if not os.path.exists(os.path.join(k8s_dir, listed)):
                found.append(f"stage {name} installs from missing {listed}")
        if not any("runtime-packages" in line for line in lines):
            found.append(f"stage {name} installs packages from no checked list")
    return found


def main():
    path = sys.argv[1]
    with open(path) as f:
        text = f.read()
    found = problems(text, os.path.dirname(path))
    if found:
        sys.exit("\n".join(found))
    print(f"{len(stages(text))} stages: digest-pinned base, non-root images, checked package lists")
    broken = text.replace("FROM ${BASE_IMAGE} AS base", "FROM debian:12 AS base").replace(
        "USER 10001:10001", "USER root")
    if len(problems(broken, os.path.dirname(path))) < 3:
        sys.exit("self-test: a tag base and root users were not all refused")
    print("self-test: a tag base and root users are refused")


if __name__ == "__main__":
    main()
