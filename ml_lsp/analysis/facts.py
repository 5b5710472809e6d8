"""What the shape engine tells its callers: plain dataclasses, no LSP types.

Positions: ``line`` 1-based, ``col`` 0-based (as Python's ``ast``); ``end_*`` likewise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ml_lsp.analysis.dims import Dim, dim_json, format_shape

Shape = Optional[tuple]  # tuple[Dim, ...], or None for unknown rank


@dataclass
class Binding:
    """A tensor-valued name bound by a statement. A tuple of tensors bound to one name
    (``out = self.lstm(x)``) has ``shape=None`` and its parts in ``elements``, each a
    (suffix, shape, dtype) triple with suffix ``"[0]"``, ``"[1][0]"``... in order."""
    scope: str
    name: str
    line: int
    col: int
    end_line: int
    end_col: int
    shape: Shape
    dtype: Optional[str]
    origin: str = ""
    elements: Optional[list] = None
    # With ``analyze_source(generic=True)``: the shape the same statement binds when the
    # model's inputs are inferred instead of taken from the call in the file (``(B, 128)``
    # where the call gives ``(64, 128)``), and that call's line; None when they agree or
    # the inferred one knows less.
    generic_shape: Shape = None
    call_line: Optional[int] = None
    # a Keras layer's output: its parameter count as model.summary() prints it
    keras_layer: bool = False
    params: Optional[int] = None

    def to_json(self) -> dict:
        out = {"scope": self.scope, "line": self.line, "name": self.name,
               "shape": None if self.shape is None else [dim_json(d) for d in self.shape],
               "dtype": self.dtype}
        if self.keras_layer:
            out["params"] = self.params
        return out


@dataclass
class ShapeHover:
    line: int
    col: int
    end_line: int
    end_col: int
    text: str  # the expression's source
    shape: Shape
    dtype: Optional[str]
    origin: str = ""
    generic_shape: Shape = None  # as Binding.generic_shape
    call_line: Optional[int] = None

    def describe(self) -> str:
        dt = f" {self.dtype}" if self.dtype else ""
        return f"{format_shape(self.shape)}{dt}"


@dataclass
class LayerFact:
    owner: str  # class name
    attr: str  # "fc1", "layers[0]", "blocks[2].attn"
    line: int
    col: int
    end_line: int
    end_col: int
    call: str  # "Linear(784, 128)"
    signature: Optional[str] = None  # "(*, 784) -> (*, 128)"
    param_count: Optional[int] = None


@dataclass
class ModuleClassFact:
    name: str
    line: int
    col: int
    param_count: Optional[int] = None
    input_shapes: dict = field(default_factory=dict)  # param name -> shape
    output_shape: Shape = None
    # the line of the file's own constructor call whose model those inputs ran (a
    # `__main__` demo's `SimVQ(dim=512, ...)`); None when they are the engine's guess
    built_at: Optional[int] = None


@dataclass
class Related:
    line: int
    col: int
    message: str


@dataclass
class TextEdit:
    line: int
    col: int
    end_line: int
    end_col: int
    new_text: str


@dataclass
class TextFix:
    title: str
    edits: list


@dataclass
class ShapeConflict:
    kind: str
    line: int
    col: int
    end_line: int
    end_col: int
    message: str
    expected: str = ""
    got: str = ""
    related: list = field(default_factory=list)
    fix: Optional[TextFix] = None


@dataclass
class CallSite:
    """A call, in another file of the workspace, of a model this file defines, whose
    input shapes the analysis used (``train.py:31 Net(data) x=(B, 1, 28, 28), MNIST batches``)."""
    path: str
    line: Optional[int]
    cls: str
    inputs: dict  # parameter name -> shape (tuple of dims, None = unknown)
    sources: dict  # parameter name -> where the data came from ("MNIST batches of 64, train.py:22")

    def to_json(self) -> dict:
        return {"path": self.path, "line": self.line, "class": self.cls,
                "inputs": {k: None if v is None else [dim_json(d) for d in v] for k, v in self.inputs.items()},
                "sources": dict(self.sources)}


@dataclass
class ModuleFacts:
    path: Optional[str] = None
    bindings: list = field(default_factory=list)
    layers: list = field(default_factory=list)
    classes: list = field(default_factory=list)
    conflicts: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    hovers: list = field(default_factory=list)  # ShapeHover, every tensor-valued expression
    layer_refs: list = field(default_factory=list)  # LayerFact at each use (self.fc1 in forward)
    keras: Optional[object] = None  # KerasFacts when the module uses Keras (the KR rules read them)
    call_sites: list = field(default_factory=list)  # CallSite: where other files call this file's models
    _by_line: Optional[dict] = field(default=None, repr=False)

    def to_json_entries(self) -> list:
        """The ``ml-lsp shapes --json`` items: one per (statement, name), ordered by line.
        A name bound to a tuple/list of tensors gives one item per element, named
        ``name[i]`` (nested: ``name[i][j]``), the way the runtime recorder names them."""
        out = []
        for b in self.bindings:
            if b.elements is None:
                out.append(b.to_json())
                continue
            for suffix, shape, dtype in b.elements:
                out.append({"scope": b.scope, "line": b.line, "name": b.name + suffix,
                            "shape": None if shape is None else [dim_json(d) for d in shape],
                            "dtype": dtype})
        return out

    def _index(self) -> dict:
        if self._by_line is None:
            by_line: dict = {}
            for h in self.hovers:
                for ln in range(h.line, min(h.end_line, h.line + 50) + 1):
                    by_line.setdefault(ln, []).append(h)
            self._by_line = by_line
        return self._by_line

    def shape_at(self, line: int, col: int) -> Optional[ShapeHover]:
        """The innermost tensor-valued expression covering (line, col): a dict lookup by
        line, then a scan of that line's few expressions."""
        best = None
        for h in self._index().get(line, ()):
            if (h.line, h.col) <= (line, col) < (h.end_line, h.end_col) or \
                    (h.line, h.col) <= (line, col) <= (h.end_line, h.end_col) and h.end_col > h.col:
                if best is None or _size(h) < _size(best):
                    best = h
        return best

    def layer_at(self, line: int, col: int) -> Optional[LayerFact]:
        """The innermost layer defined or used (``self.fc1``) at (line, col): a Keras layer
        inside its Sequential list wins over the model."""
        best = None
        for f in self.layer_refs + self.layers:
            if (f.line, f.col) <= (line, col) <= (f.end_line, f.end_col):
                if best is None or _size(f) < _size(best):
                    best = f
        return best

    def class_named(self, name: str) -> Optional[ModuleClassFact]:
        for c in self.classes:
            if c.name == name:
                return c
        return None


def _size(h) -> tuple:
    return (h.end_line - h.line, h.end_col - h.col if h.end_line == h.line else h.end_col)


__all__ = ["Binding", "ShapeHover", "LayerFact", "ModuleClassFact", "Related", "TextEdit",
           "TextFix", "ShapeConflict", "ModuleFacts", "Dim"]
