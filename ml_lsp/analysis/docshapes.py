"""Input shapes a function's documentation states: its docstring's argument list, and the
shared argument table of transformers' ``@auto_docstring``.

Model code documents its tensors' shapes in words more often than in annotations:
``input_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`)`` (transformers),
``x (torch.Tensor): input tensor with shape ``[b x s x d]``" (torchtune), ``img (Tensor):
The input image of shape (N, 3, H, W).`` These are the library's own contract, not a guess:
an input nothing else describes takes the shape its documentation states, with the
documented dim names as symbols. Pure functions of text.
"""

from __future__ import annotations

import ast
import re
from typing import Optional

# a parameter's line in an argument list: ``name (type): text`` / ``name: text`` /
# ``name (`type` of shape `(...)`):``
_PARAM_LINE = re.compile(r"^(?P<indent>\s*)(?P<name>[A-Za-z_]\w*)\s*(?:\((?P<type>.*?)\))?\s*:(?P<rest>.*)$")
# "of shape (a, b)", "with shape ``[b x s x d]``", "shape: (N, C)", "in shape (c, h, w)",
# "... responses. Shape: (batch_size)" (torchtune's losses)
_SHAPE = re.compile(r"\bshape\s*(?:of\s*)?[:=]?\s*`{0,2}(?P<dims>\([^()]*\)|\[[^\[\]]*\])", re.IGNORECASE)
_HF_LINE = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*\((?P<inner>.*?\bof shape\b.*)$")
# Sphinx: ``:param x: an [N x C x ...] Tensor of inputs.`` / ``:param timesteps: a 1-D batch``
_SPHINX_LINE = re.compile(r"^\s*:param\s+(?:[\w\[\], .]+\s+)?(?P<name>[A-Za-z_]\w*)\s*:(?P<rest>.*)$")
# "an [N x C] Tensor": bracketed dims right before the word tensor
_BRACKET_TENSOR = re.compile(r"(?P<dims>\[[^\[\]]*\])\s*`{0,2}\s*(?:float\s+|long\s+|bool\s+)?[Tt]ensor\b")
# "a 1-D batch of timesteps", "a 1-D tensor"
_ONE_D = re.compile(r"\b1-?D\s+(?:batch|tensor|Tensor|array)\b")
_DTYPES = {"LongTensor": "long", "IntTensor": "long", "BoolTensor": "bool", "FloatTensor": "float",
           "HalfTensor": "float", "DoubleTensor": "float"}


def parse_dims(text: str) -> Optional[tuple]:
    """``(batch_size, sequence_length)`` / ``[b x s x d]`` -> the dims as text (an int, or a
    name); None for a rank-polymorphic shape (``(..., d)``, ``(n, *)``) or one not read."""
    inner = text.strip().strip("`")[1:-1].replace("`", "").strip()
    if not inner:
        return None
    parts = [p.strip() for p in (inner.split(",") if "," in inner else re.split(r"\s+x\s+|\s*×\s*", inner))]
    if parts and parts[-1] == "":  # (num_gt,)
        parts = parts[:-1]
    out = []
    for part in parts:
        if part in ("...", "*", "…") or part.startswith("*"):
            return None
        if part.isdigit():
            out.append(int(part))
        elif re.fullmatch(r"[A-Za-z_][\w.]*(\s*[-+*/]+\s*[\w.]+)*", part):
            out.append(part)
        else:
            return None
    return tuple(out) if out else None


def docstring_shapes(doc: Optional[str]) -> dict:
    """name -> (dims, dtype or None) for each argument whose description states a shape."""
    out: dict = {}
    if not doc:
        return out
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        hf = _HF_LINE.match(line)
        match = hf or _SPHINX_LINE.match(line) or _PARAM_LINE.match(line)
        if not match:
            continue
        name = match.group("name")
        if name in out or name in ("Args", "Arguments", "Returns", "Return", "Raises", "Example", "Examples",
                                   "Note", "Shape", "Parameters", "Inputs", "Outputs", "Yields"):
            continue
        # the description: this line and the lines indented deeper under it
        indent = len(line) - len(line.lstrip())
        text = line
        for more in lines[i + 1:i + 4]:
            if more.strip() and len(more) - len(more.lstrip()) <= indent:
                break
            text += " " + more.strip()
        shape = _SHAPE.search(text) or _BRACKET_TENSOR.search(text)
        if not shape:
            if _ONE_D.search(text):
                out[name] = (("N",), None)  # a 1-D batch: one value per sample
            continue
        dims = parse_dims(shape.group("dims"))
        if dims is None:
            continue
        kind = re.search(r"(\w+Tensor)\b", text[:shape.start()])
        out[name] = (dims, _DTYPES.get(kind.group(1)) if kind else None)
    return out


_TABLES: dict = {}  # module text -> its argument tables, parsed once per process


def argument_tables(module_text: str) -> dict:
    """transformers' ``auto_docstring`` module: ``class ModelArgs: input_ids = {"description":
    ..., "shape": "of shape `(batch_size, sequence_length)`"}`` -> name -> (dims, None)."""
    known = _TABLES.get(module_text)
    if known is not None:
        return known
    out: dict = {}
    try:
        tree = ast.parse(module_text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        tree = None
    for cls in (tree.body if tree is not None else []):
        if not isinstance(cls, ast.ClassDef) or not cls.name.endswith("Args"):
            continue
        for stmt in cls.body:
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name) and isinstance(stmt.value, ast.Dict)):
                continue
            for key, value in zip(stmt.value.keys, stmt.value.values):
                if (isinstance(key, ast.Constant) and key.value == "shape" and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)):
                    shape = _SHAPE.search(value.value)
                    dims = parse_dims(shape.group("dims")) if shape else None
                    if dims is not None:
                        out.setdefault(stmt.targets[0].id, (dims, None))
    if len(_TABLES) > 8:
        _TABLES.clear()
    _TABLES[module_text] = out
    return out


def annotation_dtype(annotation) -> Optional[str]:
    """``torch.LongTensor | None`` -> "long"."""
    if annotation is None:
        return None
    for node in ast.walk(annotation):
        name = node.attr if isinstance(node, ast.Attribute) else (node.id if isinstance(node, ast.Name) else None)
        if name in _DTYPES:
            return _DTYPES[name]
    return None
