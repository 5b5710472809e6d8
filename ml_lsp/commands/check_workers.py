"""The worker processes of ``ml-lsp check -j N``.

Each worker is a ``multiprocessing.Process`` with a pipe of its own to the command; the
command hands it one file at a time and waits on every pipe and every process sentinel at
once. ``multiprocessing.Pool`` was used before and failed in two ways a user met:

- a worker killed from outside (the kernel's out-of-memory killer) took its file with it,
  and the pool waited for that file's result for ever;
- Ctrl-C tore the pool down through locks its workers share (the task queue's read lock,
  the result queue's write lock): a worker that died holding one left ``terminate()``
  waiting for it, and the command never exited (CI met it in
  ``test_ctrl_c_stops_at_once...``).

Here nothing is shared between workers, so a dead worker costs its own file only (reported
by ``lost``), and stopping is killing: every worker's process group gets SIGKILL, which
also ends what a worker started (jedi's helper process).
"""

from __future__ import annotations

import os
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

# How long a worker may spend on one file beyond the analysis' own time budget before it is
# stopped and the file reported as not checked: the budget bounds the shape engine, this
# bounds what runs outside it (reading the workspace's environment, jedi), so that no file
# can stall the command.
GRACE_S = 60.0


def _serve(conn, work: Callable[[Any], Any], init: Callable[[], None] | None) -> None:
    """A worker's life: take a task, send back its result, until told to stop (None) or the
    command's end of the pipe closes."""
    if init is not None:
        init()
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        index, item = task
        try:
            result = work(item)
        except Exception as exc:  # a bug of ours: reported for this task, the others go on
            result = Failed(f"{type(exc).__name__}: {exc}")
        conn.send((index, result))


@dataclass
class Failed:
    """What a worker sends back when ``work`` raised."""

    error: str


@dataclass(eq=False)
class _Worker:
    process: Any
    conn: Any
    task: tuple | None = None  # (index, item) being worked on
    started: float = 0.0  # when it was handed the task
    done: int = 0  # tasks finished


@dataclass
class Lost:
    """A task whose worker ended before sending its result."""

    index: int
    item: Any
    reason: str  # "killed by SIGKILL (out of memory?)", "stopped after 95 s", ...


@dataclass
class WorkerRun:
    """Runs ``work(item)`` for every item in up to ``jobs`` forked worker processes."""

    work: Callable[[Any], Any]
    jobs: int
    tasks_per_worker: int = 100  # a worker is replaced after this many (its memory stays bounded)
    init: Callable[[], None] | None = None  # runs first in every worker
    task_limit_s: float | None = None  # a task running longer is stopped and reported lost
    context: Any = None  # a multiprocessing context; the default one when None
    groups: set = field(default_factory=set)  # every worker's process group, ever
    retired: list = field(default_factory=list)  # workers told to stop, to be joined

    def run(self, items: list, on_result: Callable[[int, Any], None], on_lost: Callable[[Lost], None],
            on_start: Callable[[Any], None] = lambda item: None, on_idle: Callable[[], None] = lambda: None) -> None:
        """Calls ``on_result(index, result)`` as each finishes (in any order), ``on_lost`` for a
        task whose worker died or overran ``task_limit_s``. On any exception (Ctrl-C included)
        every worker is killed before it propagates."""
        from multiprocessing.connection import wait

        pending = deque(enumerate(items))
        workers: list[_Worker] = []
        try:
            for _ in range(min(self.jobs, len(items))):
                workers.append(self._start())
            for worker in workers:
                self._hand(worker, pending, on_start)
            while any(w.task is not None for w in workers):
                busy = [w for w in workers if w.task is not None]
                ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=0.2))
                if not ready:
                    on_idle()
                for worker in busy:
                    if worker.conn in ready:
                        try:
                            index, result = worker.conn.recv()
                        except (EOFError, OSError):  # it died before or while sending
                            self._lose(worker, on_lost, self._death(worker))
                        else:
                            task, worker.task, worker.done = worker.task, None, worker.done + 1
                            if isinstance(result, Failed):
                                on_lost(Lost(index, task[1], f"the analysis failed: {result.error}"))
                            else:
                                on_result(index, result)
                    elif worker.process.sentinel in ready:
                        self._lose(worker, on_lost, self._death(worker))
                    elif self.task_limit_s and time.monotonic() - worker.started > self.task_limit_s:
                        self._lose(worker, on_lost, f"stopped after {self.task_limit_s:g} s")
                # replace the dead and the worn-out workers, then give out the next tasks
                for i, worker in enumerate(workers):
                    if worker.task is None and (not worker.process.is_alive() or worker.done >= self.tasks_per_worker):
                        self._retire(worker)
                        if pending:
                            workers[i] = worker = self._start()
                    if worker.task is None and pending and worker.process.is_alive():
                        self._hand(worker, pending, on_start)
            for worker in workers:
                self._retire(worker)
        except BaseException:
            self.kill_all()
            raise
        finally:
            for worker in workers + self.retired:
                worker.process.join(timeout=1.0)
                worker.conn.close()

    def _start(self) -> _Worker:
        import multiprocessing

        ctx = self.context or multiprocessing.get_context()
        ours, theirs = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(theirs, self.work, self.init), daemon=True,
                              name="ml-lsp-check-worker")
        process.start()
        theirs.close()
        try:  # its own process group (the worker sets it too; whichever runs first wins the race)
            os.setpgid(process.pid, process.pid)
        except OSError:
            pass
        self.groups.add(process.pid)
        return _Worker(process, ours)

    def _hand(self, worker: _Worker, pending: deque, on_start) -> None:
        if not pending:
            return
        worker.task = pending.popleft()
        worker.started = time.monotonic()
        on_start(worker.task[1])
        try:
            worker.conn.send(worker.task)
        except OSError:  # it died already; the sentinel reports it
            pass

    def _lose(self, worker: _Worker, on_lost, reason: str) -> None:
        index, item = worker.task
        worker.task = None
        _signal_groups([worker.process.pid], signal.SIGKILL)
        worker.process.join(timeout=1.0)
        on_lost(Lost(index, item, reason))

    @staticmethod
    def _death(worker: _Worker) -> str:
        worker.process.join(timeout=1.0)
        code = worker.process.exitcode
        if code is None:
            return "ended its worker process"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            hint = " (out of memory?)" if -code == signal.SIGKILL else ""
            return f"its worker process was killed by {name}{hint}"
        return f"its worker process exited with status {code}"

    def _retire(self, worker: _Worker) -> None:
        if worker in self.retired:
            return
        self.retired.append(worker)
        if worker.process.is_alive():
            try:
                worker.conn.send(None)
            except OSError:
                pass

    def kill_all(self) -> None:
        """SIGKILL to every worker's process group: nothing is shared, so nothing can be left
        waiting on a lock a dead worker held."""
        _signal_groups(self.groups, signal.SIGKILL)

    def end_helpers(self) -> None:
        """After a normal end: what workers started and left behind (jedi's helper process)
        ends with them."""
        _signal_groups(self.groups, signal.SIGTERM)


def _signal_groups(groups, sig: int) -> None:
    """``sig`` to each process group. A worker leads its own from ``_start`` on (the command
    sets it before handing it a task), so its group is the worker and what it started; a
    bare ``kill`` of a worker's pid could reach another process once that pid is reused."""
    for group in groups:
        try:
            os.killpg(group, sig)
        except (ProcessLookupError, PermissionError):
            pass
