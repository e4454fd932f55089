#!/usr/bin/python3
"""Regenerates the library block of common/default_policy.toml's allowlist
from the libraries themselves: every class that scikit-learn, SciPy's sparse
matrices, torch.nn modules (float and quantized) and torch.distributions
define, and the tensor functions of torch.nn.functional that checkpoints
reference through functools.partial.

Classes, not module wildcards: a wildcard such as "sklearn.*" also allows
the libraries' helper functions, and scikit-learn ships some that run
scripts. A class is what the libraries' objects pickle as; calling one
builds an object whose __setstate__ only stores data.

Run with Debian's /usr/bin/python3 after a library upgrade:
    scripts/allowlist-from-libraries.py common/default_policy.toml
"""
import importlib
import inspect
import pkgutil
import re
import sys
import warnings

warnings.filterwarnings("ignore")
SKIP_PARTS = {"tests", "_testing", "testing", "externals", "conftest", "_build_utils",
              "_show_versions", "setup", "datasets", "benchmarks"}
BEGIN = "  # BEGIN library classes (scripts/allowlist-from-libraries.py)"
END = "  # END library classes"


def modules_under(package_name):
    package = importlib.import_module(package_name)
    names = [package_name]
    if hasattr(package, "__path__"):
        names += [m.name for m in pkgutil.walk_packages(package.__path__, package_name + ".")]
    for name in names:
        if SKIP_PARTS.intersection(name.split(".")):
            continue
        try:
            yield importlib.import_module(name)
        except Exception:  # Optional extras that are not installed.
            continue


def classes_under(package_name):
    found = set()
    for module in modules_under(package_name):
        for obj in vars(module).values():
            if (inspect.isclass(obj) and obj.__module__ == module.__name__
                    and not issubclass(obj, BaseException) and "<" not in obj.__qualname__):
                found.add(f"{obj.__module__}.{obj.__qualname__}")
    return found


def cython_pickle_helpers(package_name):
    """Cython extension types pickle through module-level helpers
    (__pyx_unpickle_<Type>, and scikit-learn's newObj) that only rebuild
    the type they are named after."""
    found = set()
    for module in modules_under(package_name):
        for name, obj in vars(module).items():
            if callable(obj) and (name.startswith("__pyx_unpickle_") or name == "newObj"):
                found.add(f"{module.__name__}.{name}")
    return found


def pickled_name(fn):
    """The name pickle writes for a function: its module and qualified name,
    or for a builtin bound to a class (torch.relu is
    _VariableFunctionsClass.relu) the class's name and the attribute that
    getattr(<class>, '<name>') fetches."""
    if inspect.isfunction(fn):
        return f"{fn.__module__}.{fn.__qualname__}"
    reduced = fn.__reduce__()
    if isinstance(reduced, str):
        return f"{fn.__module__}.{reduced}"
    if reduced[0] is getattr:
        owner, attr = reduced[1]
        owner = owner if inspect.isclass(owner) else type(owner)
        return f"{owner.__module__}.{owner.__qualname__}.{attr}"
    return None


def tensor_functions():
    """torch.nn.functional and torch's activation functions, as the pickled
    names functools.partial(<function>) writes: these are tensor math."""
    import torch
    import torch.nn.functional as F
    candidates = [obj for name, obj in vars(F).items()
                  if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isbuiltin(obj))
                  # Dispatch helpers call the function they are given: not tensor math.
                  and "torch_function" not in name and "dispatch" not in name
                  and getattr(obj, "__module__", "") and obj.__module__.startswith("torch")]
    candidates += [getattr(torch, name) for name in (
        "relu", "sigmoid", "tanh", "softmax", "log_softmax", "exp", "log", "sqrt", "abs", "clamp",
        "sin", "cos", "erf", "selu", "celu", "rrelu", "hardshrink", "prelu", "matmul", "add", "mul")]
    found = set()
    for fn in candidates:
        try:
            name = pickled_name(fn)
        except Exception:
            continue
        if name:
            found.add(name)
            if name.count(".") > 2 and "._VariableFunctionsClass." in name:
                found.add(name.rsplit(".", 1)[0])  # The class getattr reads it from.
    return found


def main():
    policy_path = sys.argv[1]
    groups = [
        ("scikit-learn estimators, transformers and their fitted parts", classes_under("sklearn")),
        ("SciPy sparse matrices", classes_under("scipy.sparse")),
        ("torch.nn modules", classes_under("torch.nn.modules") | classes_under("torch.ao.nn")),
        ("torch.distributions", classes_under("torch.distributions")),
        ("torch.optim optimizers and learning-rate schedulers", classes_under("torch.optim")),
        ("Cython pickle helpers of scikit-learn's extension types", cython_pickle_helpers("sklearn")),
        ("torch.nn.functional tensor functions (functools.partial targets)", tensor_functions()),
    ]
    lines = [BEGIN]
    for title, names in groups:
        lines.append(f"  # {title}: {len(names)}")
        row = "  "
        for name in sorted(names):
            item = f'"{name}", '
            if len(row) + len(item) > 100:
                lines.append(row.rstrip())
                row = "  "
            row += item
        if row.strip():
            lines.append(row.rstrip())
    lines.append(END)
    text = open(policy_path).read()
    block = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not block.search(text):
        sys.exit(f"{policy_path} has no '{BEGIN.strip()}' ... '{END.strip()}' block")
    text = block.sub(lambda _: "\n".join(lines), text)
    open(policy_path, "w").write(text)
    print(sum(len(n) for _, n in groups), "names written")


if __name__ == "__main__":
    main()
