"""``ml-lsp run SCRIPT [ARGS...]``: queue a training script for the runner.

Prints the run id. ``--follow`` shows a live one-line view (progress and latest metrics)
and a summary at the end; Ctrl-C stops the run. ``--wait`` blocks until the run ends,
prints the run id as the last line and exits 0 only if the run succeeded."""

from __future__ import annotations

import argparse
import os
import sys
import time


def add_runs_dir_option(p: argparse.ArgumentParser, nested: bool = False) -> None:
    # In a nested subcommand, SUPPRESS keeps `ml-lsp runs --runs-dir D show ID` working.
    p.add_argument("--runs-dir", metavar="DIR", default=argparse.SUPPRESS if nested else None,
                   help="the runs folder (default: $ML_LSP_RUNS_DIR, else the runs_dir setting or "
                        ".ml-lsp/runs in the project root)")


def runs_dir_of(args: argparse.Namespace, start: str | None = None):
    from pathlib import Path

    from ml_lsp.runner.run_folder import find_runs_dir

    if getattr(args, "runs_dir", None):
        return Path(args.runs_dir).expanduser().resolve()
    return find_runs_dir(start)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a training script through the runner",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("script", help="the Python script to run")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    p.add_argument("--devices", default=None, help="auto (default), cpu, or GPU indices like 0,1")
    p.add_argument("--launcher", default="local", help="local (default), torchrun, ray, or a plugin's launcher")
    p.add_argument("--nproc-per-node", type=int, default=None, metavar="N",
                   help="processes for torchrun (default: one per GPU given, else 1)")
    p.add_argument("--name", default=None, help="a name for the run (default: the script's name)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="an environment variable for the run (repeatable)")
    p.add_argument("--slots", type=int, default=None, metavar="N",
                   help="if this starts the runner: at most N CPU runs at once")
    add_remote_options(p)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--follow", "-f", action="store_true",
                      help="show live progress and metrics; Ctrl-C stops the run")
    mode.add_argument("--wait", action="store_true",
                      help="block until the run ends; print the run id last; exit 0 if it succeeded")
    add_runs_dir_option(p)
    p.set_defaults(func=run)


REMOTE_OPTIONS = {"--address": "address", "--num-gpus": "num_gpus", "--num-nodes": "num_nodes",
                  "--runtime-env": "runtime_env"}


def add_remote_options(p: argparse.ArgumentParser) -> None:
    """Options of launchers that hand the run to a cluster (``--launcher ray``)."""
    group = p.add_argument_group("cluster launchers (--launcher ray)")
    group.add_argument("--address", default=None, metavar="URL",
                       help="the cluster (Ray: its dashboard, http://HOST:8265; default: your settings' "
                            "launchers.ray.address, $RAY_ADDRESS, then the project's [tool.ml-lsp.launchers.ray])")
    group.add_argument("--num-gpus", type=float, default=None, metavar="N", help="GPUs per node on the cluster")
    group.add_argument("--num-nodes", type=int, default=None, metavar="N",
                       help="nodes (several: torchrun over them, one process per GPU)")
    group.add_argument("--runtime-env", default=None, metavar="FILE",
                       help="a Ray runtime environment (JSON, TOML or YAML) for the job")
    group.add_argument("--yes", action="store_true",
                       help="agree to send the workspace to the cluster its pyproject.toml names")


def prepare_for_launcher(spec: dict, args: argparse.Namespace, runs_dir, root=None) -> dict:
    """``spec`` as its launcher wants it (``ml_lsp.runner.launch``): a launcher that sends
    the workspace to a cluster the repository named needs ``--yes``. UsageError otherwise."""
    from ml_lsp.cli import UsageError
    from ml_lsp.runner import launch
    from ml_lsp.runner.run_folder import project_root
    from ml_lsp.settings import load_settings

    if spec.get("launcher") in ("local", "torchrun") or spec.get("launcher") not in launch.launchers():
        return spec  # an unknown launcher fails the run, naming the installed ones (the runner says so)
    root = root or project_root(spec.get("cwd"))
    options = {dest: getattr(args, dest, None) for dest in REMOTE_OPTIONS.values()}
    options["runs_dir"] = str(runs_dir)
    context = launch.context_for(spec["launcher"], root, load_settings(root), options)
    try:
        try:
            return launch.prepare(spec, spec["launcher"], context)
        except launch.NeedsConsent as ask:
            if not getattr(args, "yes", False):
                raise UsageError(ask.refusal) from None
            launch.remember_consent(root, ask.key)
            print(f"note: remembered in {launch.consent_file()}: {ask.key}", file=sys.stderr)
            context.consented.add(ask.key)
            return launch.prepare(spec, spec["launcher"], context)
    except launch.LaunchError as exc:
        raise UsageError(str(exc)) from None


def _split_options(args: argparse.Namespace) -> None:
    """``ml-lsp run train.py --lr 3 --wait``: our own flags after the script are ours only
    when the script's arguments do not follow them; REMAINDER takes everything, so pick
    out ours from its tail (``--`` ends this: all after it go to the script)."""
    ours = {"--wait": "wait", "--follow": "follow", "--yes": "yes"}
    valued = {"--devices": "devices", "--launcher": "launcher", "--nproc-per-node": "nproc_per_node",
              "--name": "name", "--runs-dir": "runs_dir", "--slots": "slots", **REMOTE_OPTIONS}
    numbers = {"--nproc-per-node": int, "--slots": int, "--num-nodes": int, "--num-gpus": float}
    rest = list(args.args)
    script_args: list[str] = []
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "--":
            script_args += rest[i + 1:]
            break
        key, _, inline = a.partition("=")
        if a in ours:
            setattr(args, ours[a], True)
        elif key == "--env" and (inline or i + 1 < len(rest)):  # repeatable
            args.env.append(inline if inline else rest[i + 1])
            i += 0 if inline else 1
        elif key in valued and (inline or i + 1 < len(rest)):
            value = inline if inline else rest[i + 1]
            i += 0 if inline else 1
            setattr(args, valued[key], numbers[key](value) if key in numbers else value)
        else:
            script_args.append(a)
        i += 1
    args.args = script_args


def run(args: argparse.Namespace) -> int:
    from ml_lsp.cli import UsageError
    from ml_lsp.runner.jobs import SpecError, make_spec, submit

    try:
        _split_options(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.follow and args.wait:
        raise UsageError("--follow and --wait: choose one")
    env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--env {item!r}: expected KEY=VALUE")
        env[key] = value
    try:
        spec = make_spec(args.script, args.args, devices=args.devices or "auto", launcher=args.launcher,
                         nproc_per_node=args.nproc_per_node, name=args.name, env=env)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    if isinstance(spec["devices"], list):  # say so now rather than fail the run later
        from ml_lsp.runner.devices import probe_gpus

        known = {g.index for g in probe_gpus()}
        missing = [d for d in spec["devices"] if d not in known]
        if missing:
            raise UsageError(f"--devices {args.devices}: GPU {', '.join(map(str, missing))} not found "
                             f"(this machine has {', '.join(map(str, sorted(known))) or 'none'}); "
                             f"use --devices auto or cpu")
    runs_dir = runs_dir_of(args, os.path.dirname(spec["script"]))
    from ml_lsp.runner.run_folder import project_root
    spec = prepare_for_launcher(spec, args, runs_dir, root=project_root(os.path.dirname(spec["script"])))
    folder = submit(spec, runs_dir, cpu_slots=args.slots)
    if args.slots:
        from ml_lsp.runner.daemon import runner_info

        serving = runner_info(runs_dir)
        if serving.get("pid") and serving.get("cpu_slots") != args.slots:
            print(f"note: the runner already serving {runs_dir} has {serving.get('cpu_slots')} CPU slots; "
                  f"--slots {args.slots} applies when a runner next starts", file=sys.stderr)
    if args.follow:
        state = follow(folder)
        print(folder.id)
        return 0 if state == "succeeded" else 1
    if args.wait:
        from ml_lsp.runner.jobs import wait

        print(f"queued {folder.id}; waiting for it to end", file=sys.stderr)
        try:
            state = wait(folder)
        except KeyboardInterrupt:
            from ml_lsp.runner.jobs import stop

            print("stopping the run (Ctrl-C again leaves it running)", file=sys.stderr)
            state = stop(folder, wait_for=30)
        print(f"{state}: {describe_end(folder)}", file=sys.stderr)
        if state == "failed":  # why, in the job's (or its launcher's) last words
            try:
                tail = folder.stderr_path.read_text(errors="replace").splitlines()[-5:]
            except OSError:
                tail = []
            for line in tail:
                print(f"  | {line}", file=sys.stderr)
        print(folder.id)
        return 0 if state == "succeeded" else 1
    print(folder.id)
    print(f"queued; follow it with `ml-lsp logs -f {folder.id}` or `ml-lsp runs show {folder.id}`",
          file=sys.stderr)
    return 0


def describe_end(folder) -> str:
    status = folder.status()
    state = folder.state(status)
    parts = []
    if status.get("started") and status.get("ended"):
        parts.append(f"took {format_duration(status['ended'] - status['started'])}")
    if status.get("signal"):
        parts.append(f"killed by {status['signal']}")
    elif status.get("exit_code") not in (None, 0):
        parts.append(f"exit code {status['exit_code']}")
    if status.get("error"):
        parts.append(status["error"])
    if state == "lost":
        parts.append("the runner stopped watching it")
    return ", ".join(parts) or state


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def format_value(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.3e}"


def live_line(state: str, elapsed: float, summary) -> str:
    parts = [f"{state} {format_duration(elapsed)}"]
    p = summary.progress
    if p is not None and p.current is not None:
        loop = f"{p.unit} {p.current}/{p.total}" if p.total else f"{p.unit} {p.current}"
        eta = summary.eta() if state in ("starting", "running") else None
        if eta is not None:
            loop += f" ETA {format_duration(eta)}"
        parts.append(loop)
    for m in summary.shown_metrics()[:6]:
        parts.append(f"{m.name} {format_value(m.last)}{(' ' + m.trend()) if m.trend() else ''}")
    return " · ".join(parts)


def follow(folder) -> str:
    """Show the run live until it ends; Ctrl-C stops it. Returns the final state."""
    import shutil

    from ml_lsp.runner.frames import FrameReader
    from ml_lsp.runner.jobs import stop
    from ml_lsp.runner.run_folder import TERMINAL_STATES
    from ml_lsp.runner.summary import RunSummary

    summary = RunSummary()
    reader = FrameReader(folder.frames_path)
    tty = sys.stderr.isatty()
    start = time.monotonic()
    last_print = 0.0
    last_text = ""
    print(f"run {folder.id} (Ctrl-C stops it)", file=sys.stderr)
    try:
        while True:
            summary.follow(reader)
            status = folder.status()
            state = folder.state(status)
            started = status.get("started")
            elapsed = time.time() - started if started else time.monotonic() - start
            text = live_line(state, elapsed, summary)
            now = time.monotonic()
            if tty:
                width = shutil.get_terminal_size((100, 20)).columns - 1
                sys.stderr.write("\r\x1b[2K" + text[:width])
                sys.stderr.flush()
            elif text != last_text and now - last_print >= 2.0:
                print(text, file=sys.stderr)
                last_print, last_text = now, text
            if state in TERMINAL_STATES:
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        if tty:
            sys.stderr.write("\n")
        print("stopping the run…", file=sys.stderr)
        state = stop(folder, grace=5.0, wait_for=30)
    if tty:
        sys.stderr.write("\n")
    summary.follow(reader)
    print_summary(folder, summary, file=sys.stderr)
    return folder.state()


def print_summary(folder, summary, file=sys.stdout) -> None:
    state = folder.state()
    print(f"{state}: {describe_end(folder)}", file=file)
    for m in summary.shown_metrics():
        where = f"{m.path}:{m.line}" if m.path else ""
        print(f"  {m.name:<16} {format_value(m.last):>10}  min {format_value(m.min)}  max {format_value(m.max)}"
              f"  ({m.count} values)  {where}", file=file)
    if summary.exception is not None:
        exc = summary.exception
        frames = exc.get("frames") or []
        where = f" at {frames[-1].get('file')}:{frames[-1].get('line')}" if frames else ""
        print(f"  {exc.get('type')}: {exc.get('message')}{where}", file=file)
    if state == "failed" and summary.exception is None:
        try:
            tail = folder.stderr_path.read_text(errors="replace").splitlines()[-8:]
        except OSError:
            tail = []
        for line in tail:
            print(f"  | {line}", file=file)
    if summary.corrupt or summary.pending_bytes:
        print(f"  frames file: {summary.corrupt} damaged region(s) skipped, "
              f"{summary.pending_bytes} byte(s) of a cut-off frame at the end", file=file)
