"""The direction of dependencies, read from the source (every import, also those inside functions).

annotation never needs rewardlab (rewardlab builds on annotation); selectors are reads and never reach DRF; the
environment is read in config/ only (config/settings.py), everything else reads Django's settings, the beat
schedule included; and
rewardlab/ml is plain PyTorch without Django.
"""

import ast
from functools import cache
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("annotation", "config", "frontend", "rewardlab", "workers")
# Process facts a launcher sets for one process (not configuration), and the environment handed on to a child.
ENVIRONMENT_ALLOWED = {
    ("rewardlab/child.py", 'os.environ.get("RANK", "0")'),  # set by torchrun per rank
    ("rewardlab/services/runner.py", 'os.environ.get("CUDA_VISIBLE_DEVICES", "all")'),  # reported, per worker process
    ("rewardlab/services/distributed.py", "os.environ"),  # passed on to the launcher it starts
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


@cache
def _tree(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))


@cache
def _imports(module: str) -> frozenset[str]:
    """Every module named in an import statement of ``module`` (``from a import b`` names a and a.b)."""
    names = set()
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing package
                package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(names)


def _reach(module: str) -> set[str]:
    """Every module ``module`` imports, following our own modules (and the packages they sit in) transitively.

    Not through workers/: a service sends its task by importing it (lazily), and the workers sit above both apps,
    free to call annotation and rewardlab alike; what they import is not the service's dependency.
    """
    names, visited, todo = set(), {module}, [module]
    while todo:
        for name in _imports(todo.pop()):
            names.add(name)
            parts = name.split(".")
            for prefix in (".".join(parts[:n]) for n in range(1, len(parts) + 1)):
                if prefix in MODULES and prefix not in visited and parts[0] != "workers":
                    visited.add(prefix)
                    todo.append(prefix)
    return names


def _offenders(modules, forbidden: str) -> dict[str, list[str]]:
    found = {}
    for module in modules:
        bad = sorted(n for n in _reach(module) if n == forbidden or n.startswith(forbidden + "."))
        if bad:
            found[module] = bad
    return found


def test_annotation_never_imports_rewardlab():
    assert _offenders([m for m in MODULES if m.split(".")[0] == "annotation"], "rewardlab") == {}


def test_no_selector_reaches_drf():
    selectors = [m for m in MODULES if ".selectors" in m or m.endswith(".selectors")]
    assert "annotation.selectors.quality" in selectors and "rewardlab.selectors" in selectors
    assert _offenders(selectors, "rest_framework") == {}


def test_rewardlab_ml_never_imports_django():
    assert _offenders([m for m in MODULES if m.startswith("rewardlab.ml")], "django") == {}


def _environment_reads(module: str) -> list[str]:
    """The source of each read of the process environment (os.environ other than assigning into it, os.getenv),
    as the whole call where it is one."""
    tree, source = _tree(module), MODULES[module].read_text()
    parent = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    reads = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os" and {"environ", "getenv"} & {a.name for a in node.names}:
            reads.append(ast.get_source_segment(source, node))
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os"
                and node.attr in ("environ", "getenv")):
            continue
        up = parent.get(id(node))
        if isinstance(up, ast.Subscript) and isinstance(up.ctx, ast.Store):
            continue  # os.environ["X"] = ...: setting it for this process, not reading configuration
        if isinstance(up, ast.Attribute) and up.attr == "get":
            node, up = up, parent.get(id(up))
        reads.append(ast.get_source_segment(source, up if isinstance(up, ast.Call) and up.func is node else node))
    return reads


def test_only_config_reads_the_environment():
    django_side = [m for m in MODULES if m.split(".")[0] in ("annotation", "rewardlab", "workers", "frontend")
                   and not m.startswith("rewardlab.ml")]
    reads = {(str(MODULES[m].relative_to(REPO)), read) for m in django_side for read in _environment_reads(m)}
    assert reads - ENVIRONMENT_ALLOWED == set()


def test_the_beat_schedule_is_only_in_settings():
    """Every periodic task is in CELERY_BEAT_SCHEDULE (config/settings.py), where one reading shows them all."""
    from django.conf import settings

    assigned = [m for m in MODULES if any(isinstance(node, ast.Attribute) and node.attr == "beat_schedule"
                                         for node in ast.walk(_tree(m)))]
    assert assigned == []
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"workers.assignments.expire_leases", "workers.run_ops.sweep_runs", "workers.jobs.sweep_stale_jobs"} <= tasks
