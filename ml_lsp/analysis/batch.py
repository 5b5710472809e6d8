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

from ml_lsp.analysis.parse import outline_spans, parse_outline, parse_tolerant, same_outline

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
    def __init__(self, max_source_chars: int = MAX_SHARED_SOURCE_CHARS, share_modules: bool = True,
                 outlines=None) -> None:
        from ml_lsp.analysis.module_share import ModuleShare
        self.max_source_chars = max_source_chars
        # where imported modules' function bodies are (``get(text)``/``put(text, spans)``;
        # the caller's store, on disk): those modules are then parsed as outlines
        self.outlines = outlines
        self._outlined: set = set()  # texts whose cached tree is an outline
        # the imported library modules, interpreted once and copied for each file (module_share)
        self.modules = ModuleShare() if share_modules else None
        self._trees: OrderedDict = OrderedDict()  # text -> (tree, problems)
        self._chars = 0
        self.caller_sites: dict = {}  # (caller path, caller text) -> CallerSites
        self.parses = 0  # how many times a text was parsed (a benchmark reads it)

    def parse(self, text: str, path: str | None = None, library: bool = False) -> tuple:
        """``parse_tolerant(text)``, once per text while it stays in the cache (a file
        analysed and also imported under another spelling of its path is still one text).
        The tree is shared: nothing in the engine or the lint rules changes a tree.

        ``library``: the text of an imported module. With an outline store, it comes as an
        outline when its spans are stored (``parse.parse_outline``: the same tree, each
        function body parsed on first use), and a whole parse stores its spans."""
        hit = self._trees.get(text)
        if hit is not None and (library or text not in self._outlined):
            self._trees.move_to_end(text)
            return hit
        if hit is not None:  # an outline, asked for whole (a lint rule walks every body)
            self._forget(text)
        result = None
        if library and self.outlines is not None:
            spans = self.outlines.get(text)
            tree = parse_outline(text, spans) if spans is not None else None
            if tree is not None:
                result = (tree, ())
                self._outlined.add(text)
        if result is None:
            self.parses += 1
            tree, problems = parse_tolerant(text)
            result = (tree, tuple(problems))
            if library and self.outlines is not None and not problems:
                self._store_spans(text, tree)
        if len(text) <= self.max_source_chars:
            self._trees[text] = result
            self._chars += len(text)
            while self._chars > self.max_source_chars:
                old_text, _ = self._trees.popitem(last=False)
                self._outlined.discard(old_text)
                self._chars -= len(old_text)
        return result

    def _forget(self, text: str) -> None:
        if self._trees.pop(text, None) is not None:
            self._chars -= len(text)
        self._outlined.discard(text)

    def _store_spans(self, text: str, tree) -> None:
        """The spans of ``tree``'s function bodies, once an outline made from them is seen
        to be ``tree`` but for those bodies."""
        spans = outline_spans(tree, text)
        if not spans:
            return
        outline = parse_outline(text, spans)
        if outline is not None and same_outline(tree, outline):
            self.outlines.put(text, spans)
