"""Dependencies point one way: front ends (cli, web) over the library (the core, training,
export, the benchmarks, the worker), the core under everything. Module-level and call-time
imports alike."""

import ast
from pathlib import Path

from tests.conftest import REPO

# Layer of each source folder, and the layers its modules may import besides their own.
LAYERS = {
    "labeler": "core",
    "labeler/store": "core",
    "worker": "worker",
    "training": "training",
    "export": "export",
    "bench": "bench",
    "web": "web",
    "cli": "cli",
}
MAY_IMPORT = {
    "core": set(),
    "worker": {"core"},
    "training": {"core"},
    "export": {"core", "training"},
    "bench": {"core", "training"},
    "web": {"core"},
    "cli": {"core", "worker", "training", "export", "bench", "web"},
}
# What each `labeler.*` name refers to (pyproject.toml's package-dir).
PACKAGE_LAYERS = {"worker": "worker", "training": "training", "export": "export",
                  "bench": "bench", "web": "web", "cli": "cli", "models": "core"}


def _layer_of_file(path: Path) -> str:
    folder = path.parent.relative_to(REPO).as_posix()
    while folder not in LAYERS:
        folder = folder.rsplit("/", 1)[0] if "/" in folder else ""
        assert folder, f"{path} is in no layer"
    return LAYERS[folder]


def _layer_of_module(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "labeler":
        return None  # a third-party or standard library module
    return PACKAGE_LAYERS.get(parts[1], "core") if len(parts) > 1 else "core"


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            yield node.module, node.lineno
            if node.module == "labeler":  # from labeler import cli
                yield from ((f"labeler.{alias.name}", node.lineno) for alias in node.names)


def _source_files() -> list[Path]:
    return sorted(p for folder in LAYERS for p in (REPO / folder).glob("*.py"))


def test_every_import_points_down_or_sideways():
    wrong = []
    files = _source_files()
    for path in files:
        layer = _layer_of_file(path)
        for module, line in _imports(path):
            target = _layer_of_module(module)
            if target and target != layer and target not in MAY_IMPORT[layer]:
                wrong.append(f"{path.relative_to(REPO)}:{line}: {layer} imports {module} "
                             f"({target})")
    assert len(files) > 60
    assert wrong == []


def test_the_check_sees_an_import_against_the_direction(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from labeler.worker.tasks import runtime\n")
    found = [(_layer_of_module(m), line) for m, line in _imports(source)]
    assert found == [("worker", 2)]
    assert "worker" not in MAY_IMPORT["core"]


# The core's groups (labeler/__init__.py): orchestration and modelling use the runtime path,
# and the runtime path uses neither; the base is under all three.
CORE_GROUPS = {
    "base": {"settings", "errors", "durations", "metrics", "urls"},
    "runtime": {"scan", "imaging", "protocol", "engine", "serving", "bundle", "store",
                "processes", "results_io", "signature", "label_results", "buckets",
                "bucket_reads", "destinations", "results_parquet"},
    "orchestration": {"submit", "submit_bucket", "waiting", "local_workers", "redis_server",
                      "broker", "context", "doctor", "fleet_metrics"},
    "modelling": {"datasets", "splits", "evaluation", "report_plots", "manifest",
                  "labelstudio", "duplicates", "job_duplicates", "job_reviews"},
}
GROUP_MAY_USE = {"base": {"base"}, "runtime": {"base", "runtime"},
                 "orchestration": {"base", "runtime", "orchestration"},
                 "modelling": {"base", "runtime", "modelling"}}


def _core_group(module: str) -> str | None:
    return next((group for group, names in CORE_GROUPS.items() if module in names), None)


def test_the_core_groups_use_each_other_one_way():
    wrong, grouped = [], 0
    for path in (REPO / "labeler").rglob("*.py"):
        parts = path.relative_to(REPO / "labeler").with_suffix("").parts
        group = _core_group(parts[0])
        if group is None:
            continue
        grouped += 1
        for module, line in _imports(path):
            names = module.split(".")
            target = _core_group(names[1]) if names[0] == "labeler" and len(names) > 1 else None
            if target and target not in GROUP_MAY_USE[group]:
                wrong.append(f"{path.relative_to(REPO)}:{line}: {group} imports {module} "
                             f"({target})")
    assert grouped >= 35
    assert wrong == []


def test_every_core_module_is_in_a_group():
    modules = {p.stem for p in (REPO / "labeler").glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in (REPO / "labeler").iterdir()
                if p.is_dir() and (p / "__init__.py").exists() and p.name != "models"}
    assert modules - set().union(*CORE_GROUPS.values()) == set()
