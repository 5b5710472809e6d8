"""What the analyses of one command share (``ml-lsp shapes a.py b.py ...``, ``ml-lsp check
DIR``): each file parsed once, however many of the others import it, and each caller
script run once, however many model files it calls.

Only what cannot differ between the files of the batch is shared: a parsed tree (a pure
function of the text), the call sites a caller script makes (a function of the caller
and the batch's files), and the imported library modules' interpreters, which each file
gets as its own copy (``module_share``: a copy is exactly what the file's own run would
build), so one file's analysis cannot change another's answer, whatever order (or worker
process) the files go to.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from ml_lsp.analysis.parse import parse_tolerant

# Keep at most this much source parsed (the files most recently used). A model file of a
# big library imports a closure of modules (transformers' modeling_llama.py: 100 modules,
# 4.4 MB of source) whose trees are all in memory while it is analysed anyway; a budget
# smaller than that closure re-parsed all of it for every file (parsing was 73% of the
# time). This budget costs about 40 MB beside the closure's trees (workers are recycled).
MAX_SHARED_SOURCE_CHARS = 16 * 1024 * 1024


@dataclass
class CallerSites:
    """What one caller script's run found: (defining file, class name) -> the arguments of
    its first call with known inputs, and of its constructor call."""
    calls: dict = field(default_factory=dict)
    constructors: dict = field(default_factory=dict)


class BatchCache:
    def __init__(self, max_source_chars: int = MAX_SHARED_SOURCE_CHARS, share_modules: bool = True) -> None:
        from ml_lsp.analysis.module_share import ModuleShare
        self.max_source_chars = max_source_chars
        # the imported library modules, interpreted once and copied for each file (module_share)
        self.modules = ModuleShare() if share_modules else None
        self._trees: OrderedDict = OrderedDict()  # text -> (tree, problems)
        self._chars = 0
        self.caller_sites: dict = {}  # (caller path, caller text) -> CallerSites
        self.parses = 0  # how many times a text was parsed (a benchmark reads it)

    def parse(self, text: str, path: str | None = None) -> tuple:
        """``parse_tolerant(text)``, once per text while it stays in the cache (a file
        analysed and also imported under another spelling of its path is still one text).
        The tree is shared: nothing in the engine or the lint rules changes a tree."""
        hit = self._trees.get(text)
        if hit is not None:
            self._trees.move_to_end(text)
            return hit
        self.parses += 1
        tree, problems = parse_tolerant(text)
        result = (tree, tuple(problems))
        if len(text) <= self.max_source_chars:
            self._trees[text] = result
            self._chars += len(text)
            while self._chars > self.max_source_chars:
                old_text, _ = self._trees.popitem(last=False)
                self._chars -= len(old_text)
        return result
