"""How fast `ml-lsp check` is on a tree of model files, on one big file, and on real code.

- A tree of >= 500 model files (copies of tests/corpus and examples/models) checked by the
  real command line with 2 worker processes, and with 1 as the peer: files per second and the
  speed-up. Goal (issue 5): >= 50 files/s on 2 cores.
- One 1,000-line model file (benchmarks/gen_big_model.py): check_source in-process (median
  of repeated runs) beside `ast.parse` of the same text as the peer. Goal: <= 150 ms.
- Real code (issue 19): the installed transformers package's models/ folder (``--real all``;
  by default the eight model families of the issue: llama, bert, gpt2, t5, mistral, vit,
  clip, bart), `ml-lsp check -j 2` with an empty cache folder (cold), with the result cache
  emptied but the library functions' memoised answers and the library modules' outlines kept
  (the user edited every file), and
  again (warm), wall
  time and peak memory of the whole process tree, beside pyrefly (a whole type checker) on
  the same files in the same run, and with only the training and data rules selected
  (``--select TR,DA``: the shape engine does not run). Goal: within 2x of pyrefly, under
  60 s on 2 cores. The floor beside it: ``ast.parse`` of the same files in this process,
  and the CPU per file the goal leaves for the analysis once they are parsed.
  ``--real sample --sample N``: a fixed random sample of N files of models/ (seed 0), for
  measuring while developing. The JSON output of the cold and the warm run must be the
  same (it is compared), and ``--compare-sharing`` also runs the cold check with the
  library-module sharing off (ML_LSP_SHARE_MODULES=0) and compares that too.
- Ctrl-C (``--ctrl-c``): the cold check of the same files interrupted once 20 files are
  done: seconds from SIGINT to exit, and the processes of its tree still alive after.
- Per file, on the real-code benchmark's files (benchmarks/realcode, when materialised):
  median and p95 of one file's check, cold (empty result cache) and warm.

    python benchmarks/check_speed.py [--files 500] [--real families|all|sample|none] [--sample 200]
                                     [--compare-sharing] [--ctrl-c] [--skip-tree] [--skip-per-file]
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = [REPO / "tests" / "corpus", REPO / "examples" / "models"]


def build_tree(root: Path, count: int) -> int:
    files = [p for folder in SOURCES if folder.is_dir() for p in sorted(folder.glob("*.py"))
             if p.name != "__init__.py"]
    if not files:
        raise SystemExit("no model files found in tests/corpus or examples/models")
    n, copy = 0, 0
    while n < count:
        # Whole folders are copied so a model's sibling imports still resolve.
        target = root / f"copy{copy:03}"
        target.mkdir()
        for f in files:
            shutil.copy(f, target / f.name)
            n += 1
        copy += 1
    return n


def run_check(tree: Path, jobs: int) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "check", str(tree), "--format", "json", "-j", str(jobs),
                           "--no-cache"],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"ml-lsp check failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, json.loads(done.stdout)


def big_file(tmp: Path) -> Path:
    gen = REPO / "benchmarks" / "gen_big_model.py"
    target = tmp / "big_model.py"
    if gen.is_file():
        done = subprocess.run([sys.executable, str(gen), "--lines", "1000", "--out", str(target)],
                              capture_output=True, text=True)
        if done.returncode == 0 and target.is_file():
            return target
        done = subprocess.run([sys.executable, str(gen)], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.count("\n") >= 900:
            target.write_text(done.stdout)
            return target
    # Without the generator: concatenate corpus models until the file has 1,000 lines.
    parts, lines = [], 0
    files = [p for folder in SOURCES if folder.is_dir() for p in sorted(folder.glob("*.py"))]
    i = 0
    while lines < 1000:
        text = files[i % len(files)].read_text()
        parts.append(text.replace("class ", f"class V{i}_"))
        lines += text.count("\n")
        i += 1
    target.write_text("\n".join(parts))
    return target


def time_big_file(path: Path, repeats: int = 7) -> tuple[float, float, int]:
    from ml_lsp.analysis.lint import check_source, load_rules
    from ml_lsp.commands.check import module_resolver

    text = path.read_text()
    rules = load_rules()
    check_source(text, str(path), rules=rules, resolve_module=module_resolver())  # warm imports
    times, parse_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        check_source(text, str(path), rules=rules, resolve_module=module_resolver())
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        ast.parse(text)
        parse_times.append(time.perf_counter() - start)
    return statistics.median(times), statistics.median(parse_times), text.count("\n") + 1


ISSUE_FAMILIES = ("llama", "bert", "gpt2", "t5", "mistral", "vit", "clip", "bart")


def transformers_models() -> Path | None:
    import importlib.util
    spec = importlib.util.find_spec("transformers")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


CPU_S: dict = {}  # argv id -> CPU seconds (user + system) of the last run_measured's process tree
# the last run_measured's peak proportional memory (MB): each page shared by forked workers
# counted once, divided among them, where the summed RSS counts it in every process
PSS_MB: dict = {}


def run_measured(argv: list[str], env: dict | None = None) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds and peak memory (MB, the whole process tree's resident memory summed,
    sampled every 20 ms) of one command; its tree's CPU seconds in ``CPU_S["last"]`` (on a
    machine shared with other work, the fairer comparison)."""
    import psutil
    import resource
    import threading
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak, peak_pss = [0], [0]

    def sample():
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        tick = 0
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree))
                if tick % 10 == 0:  # reading smaps is slower: every 0.2 s
                    peak_pss[0] = max(peak_pss[0], sum(p.memory_full_info().pss for p in tree))
            except (psutil.Error, AttributeError):  # AttributeError: no pss off Linux
                pass
            tick += 1
            time.sleep(0.02)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    elapsed = time.perf_counter() - start
    watcher.join(1)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_S["last"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    PSS_MB["last"] = peak_pss[0] / 2**20
    return elapsed, peak[0] / 2**20, subprocess.CompletedProcess(argv, proc.returncode, out, err)


def real_code(which: str, tmp: Path, sample: int = 200, compare_sharing: bool = False,
              ctrl_c: bool = False) -> None:
    import os
    import random
    import shutil as sh
    models = transformers_models()
    if models is None or not models.is_dir():
        print("real code: the transformers package is not installed here; skipped "
              "(pip install transformers, or use benchmarks/realcode/.venv/bin/python)")
        return
    paths = [str(models)] if which in ("all", "sample") else \
        [str(models / f) for f in ISSUE_FAMILIES if (models / f).is_dir()]
    from ml_lsp.commands.check import find_files
    files = [str(f) for f in find_files(paths)]
    if which == "sample":
        files = sorted(random.Random(0).sample(files, min(sample, len(files))))
        paths = files
    label = {"all": "models/", "sample": f"models/ (a fixed sample of {len(files)})"}.get(
        which, f"models/{{{','.join(ISSUE_FAMILIES)}}}")
    print(f"real code: transformers {label}: {len(files)} files")
    env = {**os.environ, "ML_LSP_CACHE_DIR": str(tmp / "check-cache")}
    check = [sys.executable, "-m", "ml_lsp", "check", "-j", "2", "--format", "json", *paths]
    shown = " ".join(a if not a.startswith(str(models)) else "" for a in check[1:]).split()
    print(f"  command: ML_LSP_CACHE_DIR=<empty folder> python {' '.join(shown)} <{label}>")
    cold, cold_mb, done = run_measured(check, env)
    cold_cpu, cold_pss = CPU_S["last"], PSS_MB["last"]
    if done.returncode not in (0, 1):
        print(f"  ml-lsp check failed ({done.returncode}): {done.stderr[-500:]}")
        return
    print(f"  (cold run done: {cold:.1f} s, {cold_cpu:.0f} CPU s, peak {cold_mb:.0f} MB)", flush=True)
    # the files edited since (their results gone from the result cache), the library's
    # memoised answers kept (ml_lsp/commands/memo_cache.py), and where its modules' function
    # bodies are (ml_lsp/commands/outline_cache.py)
    sh.rmtree(tmp / "check-cache" / "check", ignore_errors=True)
    lib, lib_mb, lib_done = run_measured(check, env)
    lib_cpu, lib_pss = CPU_S["last"], PSS_MB["last"]
    same_lib = "same" if json.loads(lib_done.stdout) == json.loads(done.stdout) else "DIFFERENT"
    print(f"  ml-lsp check -j 2, result cache empty, library memo and outlines warm: {lib:.1f} s ({lib_cpu:.0f} CPU s), "
          f"peak {lib_mb:.0f} MB (proportional {lib_pss:.0f} MB); JSON vs cold: {same_lib}", flush=True)
    warm, warm_mb, again = run_measured(check, env)
    warm_cpu, warm_pss = CPU_S["last"], PSS_MB["last"]
    same = "same" if json.loads(again.stdout) == json.loads(done.stdout) else "DIFFERENT"
    notes = [line for line in done.stderr.splitlines() if "budget" in line]
    print(f"  ml-lsp check -j 2, cold: {cold:.1f} s ({cold_cpu:.0f} CPU s), peak {cold_mb:.0f} MB "
          f"(proportional {cold_pss:.0f} MB) "
          f"({len(json.loads(done.stdout)['diagnostics'])} diagnostics, {len(notes)} budget notes); "
          f"warm (result cache): {warm:.1f} s ({warm_cpu:.0f} CPU s), peak {warm_mb:.0f} MB "
          f"(proportional {warm_pss:.0f} MB); "
          f"JSON cold vs warm: {same}")
    # the training and data rules alone: no selected rule reads the shape engine's facts, so
    # it does not run (ml_lsp/commands/check.py)
    rules_env = {**env, "ML_LSP_CACHE_DIR": str(tmp / "check-cache-rules")}
    rules_only, rules_mb, rules_done = run_measured([*check, "--select", "TR,DA"], rules_env)
    rules_cpu = CPU_S["last"]
    print(f"  ml-lsp check -j 2 --select TR,DA (no shape rule: the engine does not run), cold: {rules_only:.1f} s "
          f"({rules_cpu:.0f} CPU s), peak {rules_mb:.0f} MB "
          f"({len(json.loads(rules_done.stdout)['diagnostics'])} diagnostics)", flush=True)
    if compare_sharing:
        alone_env = {**env, "ML_LSP_SHARE_MODULES": "0", "ML_LSP_CACHE_DIR": str(tmp / "check-cache-alone")}
        alone, alone_mb, alone_done = run_measured(check, alone_env)
        same = "same" if json.loads(alone_done.stdout) == json.loads(done.stdout) else "DIFFERENT"
        print(f"  cold without sharing library modules (ML_LSP_SHARE_MODULES=0): {alone:.1f} s "
              f"({CPU_S['last']:.0f} CPU s), peak {alone_mb:.0f} MB; JSON vs sharing: {same}; "
              f"CPU time with sharing / without: {cold_cpu / CPU_S['last']:.2f}")
    if ctrl_c:
        # text output: JSON has no progress lines to wait for
        ctrl_c_latency([a for a in check if a not in ("--format", "json")],
                       {**env, "ML_LSP_CACHE_DIR": str(tmp / "check-cache-ctrl-c")})
    pyrefly = sh.which("pyrefly")
    if pyrefly is None:
        print("  pyrefly: not installed, no comparison (pip install pyrefly)")
        return
    peer, peer_mb, done = run_measured([pyrefly, "check", *files])
    peer_cpu = CPU_S["last"]
    print(f"  pyrefly check, same files: {peer:.1f} s ({peer_cpu:.0f} CPU s), peak {peer_mb:.0f} MB "
          f"(exit {done.returncode}); ml-lsp cold is {cold / peer:.1f}x its time ({cold_cpu / peer_cpu:.1f}x its "
          f"CPU time), library memo warm {lib / peer:.1f}x ({lib_cpu / peer_cpu:.1f}x its CPU time), "
          f"warm {warm / peer:.1f}x (goal <= 2x, < 60 s); --select TR,DA {rules_only / peer:.1f}x")
    parse_floor(files, peer)


def parse_floor(files: list, peer_s: float) -> None:
    """What the files cost before any analysis: Python's own parser on each (the engine
    starts from its syntax trees), in this process. Beside the goal's budget (2x pyrefly's
    time on 2 cores) it says how much of that budget is left for interpreting the code."""
    start = time.process_time()
    for name in files:
        try:
            ast.parse(Path(name).read_bytes())
        except (SyntaxError, ValueError, OSError):
            continue
    cpu = time.process_time() - start
    budget = 2 * peer_s
    print(f"  floor: ast.parse of the same {len(files)} files, nothing else: {cpu:.1f} CPU s "
          f"({cpu / 2:.1f} s on 2 cores); the goal's budget, 2x pyrefly's time on 2 cores: "
          f"{budget:.1f} s = {2 * budget:.0f} CPU s, {max(2 * budget - cpu, 0) / max(len(files), 1) * 1000:.0f} ms of "
          f"CPU per file left for the analysis")


def ctrl_c_latency(check: list, env: dict) -> None:
    """SIGINT once 20 files are done (plain progress lines on stderr): seconds to exit, exit
    status, and how many processes of its tree are still alive half a second later."""
    import re
    import signal
    import psutil
    proc = subprocess.Popen(check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    tree: set = set()
    deadline = time.monotonic() + 600
    reached = False
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        try:
            tree.update(psutil.Process(proc.pid).children(recursive=True))
        except psutil.Error:
            pass
        match = re.match(r"ml-lsp check: (\d+)/\d+ files checked", line)
        if match and int(match.group(1)) >= 20:
            reached = True
            break
    if not reached:  # it ended (or printed no count past 20) first: nothing to interrupt
        proc.kill()
        proc.communicate()
        print("  Ctrl-C: the check ended before it reported 20 files done; not measured "
              "(use more files: --real sample --sample 200, or --real all)")
        return
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    latency = time.perf_counter() - sent
    time.sleep(0.5)
    left = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    print(f"  Ctrl-C after 20 files: exit {proc.returncode} in {latency:.2f} s; "
          f"{len(tree)} processes in its tree before, {len(left)} left after (goal < 1 s, none)")


def per_file_times(tmp: Path) -> None:
    """Median and p95 of one file's check on the real-code benchmark's files, cold (an empty
    result cache; the in-process parse cache as a real run has it) and warm."""
    import os
    realcode = REPO / "benchmarks" / "realcode"
    sys.path.insert(0, str(realcode))
    try:
        import corpus
        manifest = corpus.load_manifest()
        files = sorted({str(corpus.case_file(manifest, case)) for case in manifest.cases})
    except Exception as exc:  # the corpus is optional: materialised from local mirrors
        print(f"per file: the real-code corpus is not available ({type(exc).__name__}: {exc}); skipped")
        return
    finally:
        sys.path.remove(str(realcode))
    files = [f for f in files if Path(f).is_file()]
    if not files:
        print("per file: the real-code corpus is not materialised (benchmarks/realcode/setup.sh); skipped")
        return
    os.environ["ML_LSP_CACHE_DIR"] = str(tmp / "per-file-cache")
    from ml_lsp.commands.check import CheckOptions, _rules, check_file
    _rules()
    options = CheckOptions(select=[], ignore=[])
    for label in ("cold", "warm"):
        times = []
        for f in files:
            start = time.perf_counter()
            check_file(f, options)
            times.append(time.perf_counter() - start)
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        print(f"per file ({len(files)} real-code files), {label}: median {statistics.median(times) * 1000:.0f} ms, "
              f"p95 {p95 * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--real", default="families", choices=("families", "all", "sample", "none"),
                        help="transformers' models/ folder: the issue's eight families (default), all, "
                             "a fixed random sample (--sample N), or none")
    parser.add_argument("--sample", type=int, default=200, help="files in --real sample (default 200)")
    parser.add_argument("--compare-sharing", action="store_true",
                        help="also check the real code with library-module sharing off, and compare")
    parser.add_argument("--ctrl-c", action="store_true", help="measure Ctrl-C latency on the real code")
    parser.add_argument("--skip-tree", action="store_true", help="only the real-code figures")
    parser.add_argument("--skip-per-file", action="store_true", help="leave out the per-file figures")
    args = parser.parse_args()
    real = dict(sample=args.sample, compare_sharing=args.compare_sharing, ctrl_c=args.ctrl_c)
    if args.skip_tree:
        with tempfile.TemporaryDirectory() as tmp:
            if args.real != "none":
                real_code(args.real, Path(tmp), **real)
            if not args.skip_per_file:
                per_file_times(Path(tmp))
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tree = tmp / "tree"
        tree.mkdir()
        n = build_tree(tree, args.files)
        t2, report = run_check(tree, 2)
        t1, _ = run_check(tree, 1)
        print(f"tree: {n} model files, {len(report['diagnostics'])} diagnostics")
        print(f"ml-lsp check -j 2: {t2:.2f} s = {n / t2:.0f} files/s (goal >= 50)")
        print(f"ml-lsp check -j 1: {t1:.2f} s = {n / t1:.0f} files/s; 2 workers are {t1 / t2:.2f}x faster")
        big = big_file(tmp)
        median, parse, lines = time_big_file(big)
        print(f"one {lines}-line file ({big.name}): check_source {median * 1000:.0f} ms median "
              f"(goal <= 150 ms); ast.parse alone {parse * 1000:.1f} ms ({median / parse:.0f}x)")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ml_lsp", "check", str(big)], capture_output=True)
        print(f"  `ml-lsp check {big.name}` end to end (with interpreter start-up): "
              f"{(time.perf_counter() - start) * 1000:.0f} ms")
        if args.real != "none":
            real_code(args.real, tmp, **real)
        if not args.skip_per_file:
            per_file_times(tmp)


if __name__ == "__main__":
    main()
