"""cProfile of `ml-lsp check` in one process on transformers' models/ (issue 19): the
fixed 40-file sample of benchmarks/check_speed.py (seed 0), or the files named. Prints the
top entries by cumulative and by own time. The result cache is off, so every file is analysed.

    python benchmarks/profile_check.py [--sample 40] [--top 30] [FILE ...]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*")
    parser.add_argument("--sample", type=int, default=40)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", help="write the raw profile here")
    args = parser.parse_args()
    from check_speed import transformers_models
    from ml_lsp.commands.check import CheckOptions, check_paths, find_files
    files = [Path(f) for f in args.files]
    if not files:
        models = transformers_models()
        every = [str(f) for f in find_files([str(models)])]
        files = [Path(f) for f in sorted(random.Random(0).sample(every, min(args.sample, len(every))))]
    options = CheckOptions(select=[], ignore=[], cache=False)
    profile = cProfile.Profile()
    start, cpu = time.perf_counter(), time.process_time()
    profile.enable()
    check_paths(files, options, jobs=1)
    profile.disable()
    print(f"{len(files)} files: {time.perf_counter() - start:.1f} s wall, {time.process_time() - cpu:.1f} CPU s "
          f"(under cProfile)")
    if args.out:
        profile.dump_stats(args.out)
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
