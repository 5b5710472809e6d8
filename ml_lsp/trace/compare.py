"""Static shapes against traced shapes: the tracer as the static engine's test oracle.

Both sides are lists of ``ml-lsp shapes --json`` entries (``scope``, ``line``, ``name``,
``shape``, ``dtype``). Entries are matched by (scope, line, name). A pair *disagrees* when
the ranks differ, a dtype both know differs, or a dim both know differs under some value of
the input symbols (each dim is evaluated under the assignments the tracer ran, so static
``2`` against traced ``"B"`` disagrees). An unknown static dim, or one written with a name
the trace did not vary (``"n_embd"``), is *imprecise*, not a disagreement: the static
engine may stay quiet, it may not be wrong. Pure: no torch.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from ml_lsp.trace.symbolic import eval_dim, symbol_values


@dataclass
class Disagreement:
    scope: str
    line: int
    name: str
    static_shape: list | None
    trace_shape: list | None
    static_dtype: str | None
    trace_dtype: str | None
    reason: str

    def to_json(self) -> dict:
        return {"scope": self.scope, "line": self.line, "name": self.name,
                "static": {"shape": self.static_shape, "dtype": self.static_dtype},
                "trace": {"shape": self.trace_shape, "dtype": self.trace_dtype},
                "reason": self.reason}

    def text(self, path: str = "") -> str:
        where = f"{path}:{self.line}" if path else f"line {self.line}"
        return (f"{where}: {self.scope} {self.name}: static {_shape_text(self.static_shape)}"
                f"{_dtype_text(self.static_dtype)} vs traced {_shape_text(self.trace_shape)}"
                f"{_dtype_text(self.trace_dtype)}: {self.reason}")


@dataclass
class Comparison:
    disagreements: list[Disagreement] = field(default_factory=list)
    agree: int = 0
    imprecise: int = 0  # static unknown or symbolic where the trace knows
    static_missing: int = 0  # traced bindings the static engine did not report
    trace_missing: int = 0  # static bindings the trace never executed

    @property
    def compared(self) -> int:
        return self.agree + self.imprecise + len(self.disagreements)

    def to_json(self) -> dict:
        return {"disagreements": [d.to_json() for d in self.disagreements],
                "agree": self.agree, "imprecise": self.imprecise,
                "static_missing": self.static_missing, "trace_missing": self.trace_missing}

    def summary(self) -> str:
        return (f"{self.compared} bindings compared: {self.agree} agree, "
                f"{len(self.disagreements)} disagree, {self.imprecise} static unknown or symbolic; "
                f"{self.static_missing} traced bindings the static engine does not report, "
                f"{self.trace_missing} static bindings the trace never ran")


def compare_entries(static: list[dict], traced: list[dict], symbols: list[str],
                    runs: dict[str, list[dict]] | None = None) -> Comparison:
    """``symbols``: the input symbols the trace varied (``B``, ``T``); other names in a
    static dim make it imprecise rather than comparable. ``runs``: the sizes each traced
    class actually ran at (a size search may have moved them from the base values), by
    class name; an entry is evaluated under its class's, else the first class's."""
    result = Comparison()
    default = symbol_values(list(symbols)) if symbols else [{}]
    if runs:
        default = next(iter(runs.values())) or default
    static_by_key = {(e["scope"], e["line"], e["name"]): e for e in static}
    traced_keys = set()
    for t in traced:
        key = (t["scope"], t["line"], t["name"])
        traced_keys.add(key)
        s = static_by_key.get(key)
        if s is None:
            result.static_missing += 1
            continue
        envs = (runs or {}).get(t["scope"].split(".", 1)[0]) or default
        verdict = compare_pair(s, t, envs, set(symbols))
        if verdict is None:
            result.agree += 1
        elif verdict == "imprecise":
            result.imprecise += 1
        else:
            result.disagreements.append(Disagreement(
                t["scope"], t["line"], t["name"], s.get("shape"), t.get("shape"),
                s.get("dtype"), t.get("dtype"), verdict))
    result.trace_missing = sum(1 for key in static_by_key if key not in traced_keys)
    return result


def compare_pair(s: dict, t: dict, envs: list[dict], symbols: set[str]) -> str | None:
    """None when they agree, "imprecise", or the reason they disagree."""
    s_dtype, t_dtype = s.get("dtype"), t.get("dtype")
    dtype_clash = s_dtype is not None and t_dtype is not None and s_dtype != t_dtype
    s_shape, t_shape = s.get("shape"), t.get("shape")
    if s_shape is None or t_shape is None:
        return f"dtype {s_dtype} vs {t_dtype}" if dtype_clash else "imprecise"
    if len(s_shape) != len(t_shape):
        return f"rank {len(s_shape)} vs {len(t_shape)}"
    imprecise = False
    for i, (sd, td) in enumerate(zip(s_shape, t_shape)):
        if td is None:
            continue  # the trace itself could not tell (it varied within one run)
        if sd is None or not _names(sd) <= symbols:
            imprecise = True
            continue
        for env in envs:
            sv, tv = eval_dim(sd, env), eval_dim(td, env)
            if sv is None:
                imprecise = True
                break
            if sv != tv:
                where = ", ".join(f"{k}={v}" for k, v in env.items())
                return f"dim {i}: {sd} vs {td}" + (f" (at {where})" if where and (isinstance(sd, str) or isinstance(td, str)) else "")
    if dtype_clash:
        return f"dtype {s_dtype} vs {t_dtype}"
    return "imprecise" if imprecise else None


def _names(dim) -> set[str]:
    if not isinstance(dim, str):
        return set()
    try:
        tree = ast.parse(dim, mode="eval")
    except SyntaxError:
        return {dim}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _shape_text(shape) -> str:
    if shape is None:
        return "unknown"
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _dtype_text(dtype) -> str:
    return f" {dtype}" if dtype else ""
