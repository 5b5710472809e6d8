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


def test_an_installed_module_is_found_where_python_would_import_it(tmp_path):
    # Installed packages are found from folder listings, not by jedi parsing each package
    # on the way (8 ms a look-up): the answer must be Python's own, which find_spec gives.
    import json
    import subprocess
    import sys

    from ml_lsp.resolve import _on_sys_path

    site = tmp_path / "site-packages"
    files = ["pkg/__init__.py", "pkg/sub.py", "pkg/inner/__init__.py", "pkg/inner/deep.py",
             "ns/part.py", "ns/nested/leaf.py", "mod.py", "both/__init__.py", "both.py", "fast.cpython-311-x86_64-linux-gnu.so",
             "pkg/ext.cpython-311-x86_64-linux-gnu.so"]
    for name in files:
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text("")
    names = ["pkg", "pkg.sub", "pkg.inner", "pkg.inner.deep", "pkg.ext", "pkg.missing", "pkg.sub.attr", "ns",
             "ns.part", "ns.nested.leaf", "mod", "mod.attr", "both", "fast", "sys", "os.path"]
    oracle = subprocess.run([sys.executable, "-I", "-c", (
        "import importlib.util, json, sys\n"
        f"sys.path[:0] = [{str(site)!r}]\n"
        "out = {}\n"
        f"for name in {names!r}:\n"
        "    try:\n"
        "        spec = importlib.util.find_spec(name)\n"
        "    except ImportError:\n"
        "        spec = None\n"
        "    out[name] = spec.origin if spec and spec.origin and spec.origin.endswith('.py') else None\n"
        "print(json.dumps(out))\n")], capture_output=True, text=True, check=True)
    expected = json.loads(oracle.stdout)
    assert expected["pkg.inner.deep"] and expected["both"].endswith("both/__init__.py")  # the oracle works
    search = [site, *(p for p in map(__import__("pathlib").Path, sys.path) if p.is_dir())]
    for name in names:
        found = _on_sys_path(name, search)
        if expected[name] is None:
            assert not found, name  # False: no source; None: jedi is asked, and finds none
        else:
            assert found is not None and str(found) == expected[name], name


def _fresh_process(monkeypatch):
    """The resolver's memory of this process forgotten, as a new command starts with."""
    import ml_lsp.resolve as resolve_module
    monkeypatch.setattr(resolve_module, "_STORES", {})
    monkeypatch.setattr(resolve_module, "_SEARCH_PATHS", {})
    monkeypatch.setattr(resolve_module, "_FOUND", {})


def test_the_next_command_knows_the_search_path_and_the_missing_modules_without_jedi(tmp_path, monkeypatch):
    # a library's optional dependencies (transformers tries jax, smdistributed) are found
    # nowhere; jedi, started to be sure, was a third of a warm `ml-lsp shapes` on a file
    # importing transformers. The next command reads jedi's answers from the cache folder
    import jedi
    import ml_lsp.resolve as resolve_module

    monkeypatch.setenv("ML_LSP_CACHE_DIR", str(tmp_path / "cache"))
    ws = tmp_path / "ws"
    ws.mkdir()
    _fresh_process(monkeypatch)
    assert make_resolver(str(ws))("surely_no_such_package_xyz", str(ws / "main.py")) is None
    assert make_resolver(str(ws))("json", str(ws / "main.py")) is None

    _fresh_process(monkeypatch)
    asked = []
    monkeypatch.setattr(jedi, "Project", lambda *a, **k: asked.append(a) or (_ for _ in ()).throw(RuntimeError))
    monkeypatch.setattr(jedi, "Script", lambda *a, **k: asked.append(a) or (_ for _ in ()).throw(RuntimeError))
    resolve = make_resolver(str(ws))
    assert resolve("surely_no_such_package_xyz", str(ws / "main.py")) is None
    assert resolve("json", str(ws / "main.py")) is None  # the search path came from the store too
    assert asked == []

    # a package installed since (its folder's time changed): jedi is asked again
    _fresh_process(monkeypatch)
    real_mtime = resolve_module._mtime
    monkeypatch.setattr(resolve_module, "_mtime", lambda folder: real_mtime(folder) + 1)
    make_resolver(str(ws))("surely_no_such_package_xyz", str(ws / "main.py"))
    assert asked


def test_a_pythonpath_set_for_one_command_is_not_taken_from_anothers_store(tmp_path, monkeypatch):
    # jedi's search path includes PYTHONPATH: a store kept without it must not hide a
    # package the next command's PYTHONPATH brings
    monkeypatch.setenv("ML_LSP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    ws = tmp_path / "ws"
    ws.mkdir()
    extra = tmp_path / "env" / "lib" / "python3.11" / "site-packages"
    (extra / "extra_pkg_xyz").mkdir(parents=True)
    (extra / "extra_pkg_xyz" / "__init__.py").write_text("WIDTH = 3\n")
    _fresh_process(monkeypatch)
    assert make_resolver(str(ws))("extra_pkg_xyz", str(ws / "main.py")) is None

    _fresh_process(monkeypatch)
    monkeypatch.setenv("PYTHONPATH", str(extra))
    found = make_resolver(str(ws))("extra_pkg_xyz", str(ws / "main.py"))
    assert found is not None and found[0] == str(extra / "extra_pkg_xyz" / "__init__.py")
