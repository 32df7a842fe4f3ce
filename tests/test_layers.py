"""The packages form layers: each imports only packages below it (so no cycles), the bottom layer imports
no fairseq, and scripts are thin wrappers over package functions that nothing imports."""
import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# bottom to top; a package may import the packages of lower layers only
LAYERS = [
    ("emotion_core",),  # plain Python, numpy and torch: label spaces, manifests, files, checks
    ("emotion_fairseq", "emotion_eval"),  # fairseq's internals (safe loading); scoring saved predictions
    ("emotion_fast",),  # speed paths
    ("emotion_data",),  # data preparation
    ("emotion_models", "emotion_tasks"),  # the plugin's model and task
    ("emotion_criterions",),
    ("emotion_demo", "emotion_inference", "emotion_reproduce"),
    ("emotion_serve",),  # the HTTP service over emotion_inference
    ("emotion_bench",),  # measures everything below, the service included
]
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def imported_modules(path):
    """Absolute module names imported by a Python file (at any depth of its code)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def edits_sys_path(path):
    """Whether a file calls sys.path.insert / append / extend."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in ("insert", "append", "extend") \
                and isinstance(node.value, ast.Attribute) and node.value.attr == "path" \
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "sys":
            return True
    return False


def test_every_project_package_has_a_layer():
    packages = {p.name for p in REPO.glob("emotion_*") if (p / "__init__.py").is_file()}
    assert packages == set(RANK)


def test_packages_import_only_lower_layers():
    wrong = []
    for package, rank in RANK.items():
        for path in (REPO / package).rglob("*.py"):
            for module in imported_modules(path):
                top = module.split(".")[0]
                if top in RANK and top != package and RANK[top] >= rank:
                    wrong.append(f"{path.relative_to(REPO)} imports {module} (layer {RANK[top]} >= {rank})")
    assert not wrong, "\n".join(wrong)


def test_the_bottom_layer_imports_no_fairseq():
    for path in (REPO / "emotion_core").rglob("*.py"):
        assert not {m for m in imported_modules(path) if m.split(".")[0] in ("fairseq", "fairseq_cli")}, path
    modules = [f"emotion_core.{p.stem}" for p in (REPO / "emotion_core").glob("*.py") if p.stem != "__init__"]
    code = (f"import sys\nimport {', '.join(modules)}\n"
            "assert not [m for m in sys.modules if m.startswith('fairseq')], 'fairseq was imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_scripts_are_thin_wrappers_that_nothing_imports():
    scripts = {p.stem for p in (REPO / "scripts").glob("*.py")}
    for path in (REPO / "scripts").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not edits_sys_path(path) and len(text.splitlines()) <= 10, f"{path} is more than a wrapper"
        assert any(m.split(".")[0] in RANK for m in imported_modules(path)), f"{path} calls no package function"
    for path in [*REPO.glob("emotion_*/**/*.py"), *(REPO / "tests").glob("*.py")]:
        assert not imported_modules(path) & scripts, f"{path} imports a script"
        assert not edits_sys_path(path), f"{path} edits sys.path"


def test_test_modules_import_no_other_test_module():
    for path in (REPO / "tests").glob("test_*.py"):
        assert not {m for m in imported_modules(path) if m.startswith("test_")}, path
