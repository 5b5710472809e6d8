"""ml_lsp.resolve: the workspace-import callback the CLI and server hand the engine."""

from ml_lsp.resolve import make_resolver


def test_sibling_module_package_and_relative_imports(tmp_path):
    (tmp_path / "blocks.py").write_text("X = 1\n")
    pkg = tmp_path / "models"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "layers.py").write_text("Y = 2\n")
    (pkg / "net.py").write_text("from .layers import Y\n")
    resolve = make_resolver(str(tmp_path))
    path, text = resolve("blocks", str(tmp_path / "main.py"))
    assert path == str(tmp_path / "blocks.py") and text == "X = 1\n"
    assert resolve("models.layers", str(tmp_path / "main.py"))[0] == str(pkg / "layers.py")
    assert resolve(".layers", str(pkg / "net.py"))[0] == str(pkg / "layers.py")
    assert resolve("models", str(tmp_path / "main.py"))[0] == str(pkg / "__init__.py")


def test_library_and_missing_modules_are_not_workspace_files(tmp_path):
    resolve = make_resolver(str(tmp_path))
    assert resolve("json", str(tmp_path / "main.py")) is None  # stdlib: described by rules, not read
    assert resolve("no_such_module_here", str(tmp_path / "main.py")) is None
