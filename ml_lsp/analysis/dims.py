"""The symbolic dimension domain.

A dim is an ``int``, a ``Sym`` (a small integer polynomial over named atoms such as
``B``, ``T``, ``n_embd``, or opaque atoms like ``(H-3)//2``), or ``None`` for unknown.
Polynomials keep ``C*H*W`` equal to ``W*H*C`` and ``(T+1)-1`` equal to ``T``, which is
what lets the engine prove (or refuse to prove) that two dims differ.
"""

from __future__ import annotations

import ast
import contextvars
import re
from typing import Union

Monomial = tuple  # sorted tuple of atom names; () is the constant term


class Hinted(str):
    """An atom name that carries a likely value: a size the engine made up from a default
    (``hidden_size=4096`` of a config nobody built). Shapes show the name, so they hold for
    every config; the hint only decides what needs an int (a loop count), as torch's
    ``SymInt`` hints do. Equal to, and hashed as, the plain name."""
    __slots__ = ("hint",)

    def __new__(cls, name: str, hint: int):
        obj = super().__new__(cls, name)
        obj.hint = hint
        return obj


class Sym:
    __slots__ = ("terms", "_hash")

    def __init__(self, terms: dict):
        self.terms = {m: c for m, c in terms.items() if c}
        self._hash = hash(frozenset(self.terms.items()))

    @staticmethod
    def named(name: str, hint: "int | None" = None) -> "Sym":
        return Sym({(name if hint is None else Hinted(name, hint),): 1})

    def __eq__(self, other):
        return isinstance(other, Sym) and self.terms == other.terms

    def __hash__(self):
        return self._hash

    def __repr__(self):
        return f"Sym({render(self)!r})"

    def __str__(self):
        return render(self)


Dim = Union[int, Sym, None]


class _Star:
    """The rank-polymorphic prefix of a recorded shape: ``(*, 256)`` is any number of
    leading dims, then 256. Only facts hold it; the interpreter's tensors keep an unknown
    rank with a known ``tail`` instead."""
    __slots__ = ()

    def __repr__(self):
        return "*"


STAR = _Star()

#: the name of the stand-in last dim of a model input nothing told anything of (the engine runs
#: it as ``(*, UNRANKED)``); never shown to a user
UNRANKED = "\u2047unranked"


def mentions_unranked(d) -> bool:
    """Whether a dim is, or is built from, the UNRANKED stand-in."""
    return isinstance(d, Sym) and any(UNRANKED in str(n) for m in d.terms for n in m)

MAX_TERMS = 8  # beyond this an expression is too big to be useful: unknown


def _terms(d) -> dict:
    if isinstance(d, bool):
        d = int(d)
    if isinstance(d, int):
        return {(): d} if d else {}
    return dict(d.terms)


def normalize(terms: dict) -> Dim:
    terms = {m: c for m, c in terms.items() if c}
    if not terms:
        return 0
    if len(terms) > MAX_TERMS:
        return None
    if list(terms) == [()]:
        return terms[()]
    return Sym(terms)


def size_hint(d: Dim):
    """The likely value of a dim whose every atom carries a hint, else None."""
    if isinstance(d, bool) or d is None:
        return None
    if isinstance(d, int):
        return d
    total = 0
    for m, c in d.terms.items():
        v = c
        for atom in m:
            h = getattr(atom, "hint", None)
            if h is None:
                return None
            v *= h
        total += v
    return total


def _opaque(text: str, hint) -> Sym:
    """A one-atom dim for an expression kept whole (``n//k``), with its hint where known."""
    return Sym({(text if hint is None else Hinted(text, hint),): 1})


def _hinted_floordiv(a: Dim, b: Dim):
    x, y = size_hint(a), size_hint(b)
    return x // y if x is not None and y else None


def is_dim(v) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or isinstance(v, Sym)


def add(a: Dim, b: Dim) -> Dim:
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    t = _terms(a)
    for m, c in _terms(b).items():
        t[m] = t.get(m, 0) + c
    return normalize(t)


def neg(a: Dim) -> Dim:
    if a is None:
        return None
    if isinstance(a, int):
        return -a
    return normalize({m: -c for m, c in a.terms.items()})


def sub(a: Dim, b: Dim) -> Dim:
    return add(a, neg(b))


def mul(a: Dim, b: Dim) -> Dim:
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    out: dict = {}
    for m1, c1 in _terms(a).items():
        for m2, c2 in _terms(b).items():
            m = tuple(sorted(m1 + m2))
            if len(m) > 6:
                return None
            out[m] = out.get(m, 0) + c1 * c2
    return normalize(out)


def floordiv(a: Dim, b: Dim) -> Dim:
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a // b if b else None
    if a == 0:
        return 0  # sizes are positive, so 0 // n == 0
    if isinstance(b, int):
        if b == 0:
            return None
        if b == 1:
            return a
        if b < 0:
            return _opaque(f"{_paren(a)}//{b}", _hinted_floordiv(a, b))
        return _floordiv_int(a, b)
    if isinstance(a, Sym) and a == b:
        return 1
    # a / b exactly when a is b times a monomial factor (e.g. (C*H*W) // (H*W) == C)
    q = exact_quotient(a, b)
    if q is not None:
        return q
    return _opaque(f"{_paren(a)}//{_paren(b)}", _hinted_floordiv(a, b))


# atom text -> (numerator, divisor) of each ``num//d`` atom made, so that a later ``//`` of it
# folds into one: (H+1)//2//2 is (H+1)//4
_QUOTIENTS: dict = {}


def _floordiv_int(a: Sym, b: int) -> Dim:
    """``a // b`` for b > 0 in a canonical form: each term's multiple of b comes out of the
    division ((2*T+3)//2 is T+1+1//2 = T+1, (H-2)//2+1 is H//2), nested divisions fold
    ((X//2)//2 is X//4), so equal sizes written differently compare equal and read short."""
    # (x//d + R)//b is (x + R*d)//(d*b) for integers x, R and d, b > 0
    quotients = [m for m, c in a.terms.items() if c == 1 and len(m) == 1 and m[0] in _QUOTIENTS]
    if len(quotients) == 1:
        num, d = _QUOTIENTS[quotients[0][0]]
        rest = {m: c for m, c in a.terms.items() if m != quotients[0]}
        widened = add(num, mul(d, normalize(rest)))
        if widened is not None:
            return floordiv(widened, d * b)
    outside: dict = {}
    inside: dict = {}
    for m, c in a.terms.items():
        q, r = divmod(c, b)
        if q:
            outside[m] = q
        if r:
            inside[m] = r
    if not inside:
        return normalize(outside)
    rest = normalize(inside)
    if isinstance(rest, int):
        return add(normalize(outside), rest // b)
    atom = f"{_paren(rest)}//{b}"
    if len(_QUOTIENTS) > 65536:
        _QUOTIENTS.clear()
    _QUOTIENTS[atom] = (rest, b)
    return add(normalize(outside), _opaque(atom, _hinted_floordiv(rest, b)))


def exact_quotient(a: Dim, b: Dim) -> Dim:
    """a / b when b is a single monomial that divides every term of a, else None."""
    if not isinstance(b, Sym) or len(b.terms) != 1:
        return None
    (bm, bc), = b.terms.items()
    out = {}
    for m, c in _terms(a).items():
        rest = list(m)
        for atom in bm:
            if atom in rest:
                rest.remove(atom)
            else:
                return None
        if c % bc:
            return None
        out[tuple(rest)] = c // bc
    return normalize(out)


def mod(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int) and b:
        return a % b
    return None


def _paren(d: Dim) -> str:
    s = render(d)
    if isinstance(d, Sym) and (len(d.terms) > 1 or any(c != 1 for c in d.terms.values())):
        return f"({s})"
    return s


def render(d: Dim) -> str:
    if d is None:
        return "?"
    if d is STAR:
        return "*"
    if isinstance(d, int):
        return str(d)
    parts = []
    items = sorted(d.terms.items(), key=lambda mc: (-len(mc[0]), mc[0]))
    for m, c in items:
        if m == ():
            body, coeff = "", c
            text = str(abs(c))
        else:
            # a quotient among other factors keeps its parentheses: 2*(H//2) is not 2*H//2
            factors = [f"({a})" if "//" in a and (len(m) > 1 or abs(c) != 1) else a for a in m]
            body = "*".join(factors)
            text = body if abs(c) == 1 else f"{abs(c)}*{body}"
        sign = "-" if c < 0 else "+"
        parts.append((sign, text))
    out = ""
    for i, (sign, text) in enumerate(parts):
        if i == 0:
            out = ("-" if sign == "-" else "") + text
        else:
            out += sign + text
    return out


def dim_json(d: Dim):
    """A dim as the JSON contract writes it: int, str for symbolic, null for unknown."""
    if d is None:
        return None
    if d is STAR:
        return "*"
    if isinstance(d, bool):
        return int(d)
    if isinstance(d, int):
        return d
    return render(d)


def format_shape(shape) -> str:
    """``(B, 128)``; an unknown rank is ``(...)``."""
    if shape is None:
        return "(...)"
    if len(shape) == 1:
        return f"({render(shape[0])},)"
    return "(" + ", ".join(render(d) for d in shape) + ")"


#: while the engine runs a model on inputs it inferred: {symbol: size} for each dim symbol an
#: op or layer met where it wants a size (Linear(4096) on (B, T, embedding_dim), a broadcast
#: of (B, 8, N, N) with a (8, 49, 49) bias): the run holds only for that size (see
#: note_contract). A context variable: the language server may analyse two files at once.
CONTRACT_FACTS: contextvars.ContextVar = contextvars.ContextVar("contract_facts", default=None)


def note_contract(a: Dim, b: Dim) -> None:
    """``a`` must equal ``b`` for the op to run: where one is a lone symbol and the other a
    size of 2 or more, that is a fact of the symbol (the first one said counts)."""
    facts = CONTRACT_FACTS.get()
    if facts is None:
        return
    sym, size = (a, b) if isinstance(a, Sym) else (b, a)
    if type(size) is int and size > 1 and is_lone_symbol(sym):
        facts.setdefault(sym, size)
    elif type(size) is int and size > 1 and isinstance(sym, Sym):
        # a conv stack's H//8-1 against a (1, 96, 27, 27) position table: H is 224
        solved = solve_one_symbol(sym, size)
        if solved is not None:
            facts.setdefault(*solved)
    elif isinstance(size, Sym):
        # batch_size*num_tokens against batch_size*vocab_size: num_tokens is vocab_size
        pair = _one_symbol_apart(a, b)
        if pair is not None and facts.get(pair[1]) != pair[0]:
            facts.setdefault(*pair)


def _one_symbol_apart(a: Sym, b: Sym):
    """``(x, y)`` where ``a`` and ``b`` are the same product but for one symbol each
    (``k*x`` and ``k*y``), else None."""
    if len(a.terms) != 1 or len(b.terms) != 1:
        return None
    (ma, ca), = a.terms.items()
    (mb, cb), = b.terms.items()
    if ca != cb:
        return None
    rest_a, rest_b = list(ma), list(mb)
    for atom in ma:
        if atom in rest_b:
            rest_a.remove(atom)
            rest_b.remove(atom)
    if len(rest_a) != 1 or len(rest_b) != 1:
        return None
    x, y = rest_a[0], rest_b[0]
    if not (isinstance(x, str) and isinstance(y, str) and x.isidentifier() and y.isidentifier()):
        return None     # an expression kept whole ((H+1)//2) is no symbol to rename
    return Sym({(x,): 1}), Sym({(y,): 1})


#: the largest size solve_one_symbol tries for a symbol (an image side, a sequence length)
MAX_SOLVED_SIZE = 4096
_SOLVED: dict = {}


def solve_one_symbol(d: Sym, size: int):
    """``(symbol, value)`` where ``d`` is an expression of one symbol only (``H//8-1``,
    ``(T+1)//2``) that equals ``size`` for that value, else None. Of the values that solve it
    (H//8-1 == 27 for H in 224..231) the one divisible by the highest power of 2, then the
    smallest: the size a model's author wrote (224, not 231)."""
    key = (d, size)
    if key not in _SOLVED:
        if len(_SOLVED) > 4096:
            _SOLVED.clear()
        _SOLVED[key] = _solve(d, size)
    return _SOLVED[key]


def _solve(d: Sym, size: int):
    names = set()
    for mono in d.terms:
        for atom in mono:
            if not _collect_symbols(atom, names):
                return None
    if len(names) != 1:
        return None
    name, = names
    best = None
    for value in range(1, MAX_SOLVED_SIZE + 1):
        if _evaluate(d, name, value) == size:
            twos = (value & -value).bit_length()
            if best is None or twos > best[0]:
                best = (twos, value)
    return None if best is None else (Sym({(name,): 1}), best[1])


def _collect_symbols(atom: str, names: set) -> bool:
    """Adds the symbols ``atom`` is built from; False for an atom the engine cannot evaluate
    (``n//k`` of two symbols kept whole)."""
    if atom in _QUOTIENTS:
        num, _ = _QUOTIENTS[atom]
        return isinstance(num, int) or all(_collect_symbols(a, names) for m in num.terms for a in m)
    if atom.isidentifier():
        names.add(str(atom))
        return True
    return False


def _evaluate(d: Dim, name: str, value: int) -> int:
    if isinstance(d, int):
        return d
    total = 0
    for mono, coeff in d.terms.items():
        for atom in mono:
            if atom in _QUOTIENTS:
                num, div = _QUOTIENTS[atom]
                coeff *= _evaluate(num, name, value) // div
            else:
                coeff *= value
        total += coeff
    return total


def substitute(d: Dim, facts: dict) -> Dim:
    """``d`` with each symbol that ``facts`` (lone symbol -> dim) names replaced:
    ``batch_size*num_tokens`` with num_tokens -> vocab_size is ``batch_size*vocab_size``."""
    if not isinstance(d, Sym):
        return d
    out: Dim = 0
    for mono, coeff in d.terms.items():
        term: Dim = coeff
        for atom in mono:
            term = mul(term, facts.get(Sym({(atom,): 1}), Sym({(atom,): 1})))
        out = add(out, term)
    return out


def is_lone_symbol(d) -> bool:
    """``H``, not ``2*H``, ``H+1`` or ``(H+1)//2``: a dim a fact can give a size to."""
    if not isinstance(d, Sym) or len(d.terms) != 1:
        return False
    (mono, coeff), = d.terms.items()
    return coeff == 1 and len(mono) == 1 and isinstance(mono[0], str)


def provably_different(a: Dim, b: Dim) -> bool:
    """True only when a != b for every value of the symbols (T vs T+1, 3 vs 4)."""
    if a is None or b is None:
        return False
    diff = sub(a, b)
    return isinstance(diff, int) and diff != 0


def clash(a: Dim, b: Dim) -> bool:
    """An op's check that ``a`` and ``b`` agree (a Linear's in_features and the input's last
    dim): True when they differ for every value of the symbols; otherwise the op runs only
    where they are equal, which note_contract keeps."""
    if provably_different(a, b):
        return True
    if a is not None and b is not None:
        note_contract(a, b)
    return False


def same(a: Dim, b: Dim) -> bool:
    if a is STAR or b is STAR:
        return a is b
    if a is None or b is None:
        return False
    # the common answers without building a - b (a third of a warm `shapes` on a transformers
    # file went to joining the shapes two calls recorded)
    if a is b or (type(a) is int and type(b) is int):
        return a == b
    if isinstance(a, Sym) and isinstance(b, Sym) and a.terms == b.terms:
        return True
    return sub(a, b) == 0


def common_tail(shapes: list) -> tuple:
    """The last dims all of ``shapes`` have in common (dims the same symbol or int)."""
    out = []
    for column in zip(*(reversed(s) for s in shapes)):
        first = column[0]
        if first is None or not all(d is not None and same(first, d) for d in column[1:]):
            break
        out.append(first)
    return tuple(reversed(out))


def join_dim(a: Dim, b: Dim) -> Dim:
    if a is None or b is None:
        return None
    return a if same(a, b) else None


def join_shape(a, b):
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(join_dim(x, y) for x, y in zip(a, b))


def product(dims) -> Dim:
    out: Dim = 1
    for d in dims:
        out = mul(out, d)
        if out is None:
            return None
    return out


def parse_dim(text: str) -> Dim:
    """``"B"``, ``"784"``, ``"T+1"``, ``"C*H*W"`` -> a dim; ``"?"``/``"_"`` -> unknown.
    Raises ValueError for anything else."""
    text = text.strip()
    if text in ("?", "_", "None", "null", ""):
        return None
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise ValueError(f"not a dimension: {text!r}") from None
    return _eval_dim(node, text)


def _eval_dim(node, text):
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name):
        return Sym.named(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return neg(_eval_dim(node.operand, text))
    if isinstance(node, ast.BinOp):
        a, b = _eval_dim(node.left, text), _eval_dim(node.right, text)
        ops = {ast.Add: add, ast.Sub: sub, ast.Mult: mul, ast.FloorDiv: floordiv}
        fn = ops.get(type(node.op))
        if fn:
            return fn(a, b)
    raise ValueError(f"not a dimension: {text!r}")


_INPUT_SPEC = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(.*)$")


def parse_inputs(specs) -> dict:
    """Input shapes as users write them, for ``--input`` and the ``inputs`` setting:
    ``["x=B,784"]``, ``{"x": "B,784"}`` or ``{"x": ["B", 784]}`` -> ``{"x": ["B", 784]}``
    (ints, names or expressions like ``"T+1"``, ``None`` for ``?``). Raises ValueError
    naming the bad part."""
    if isinstance(specs, dict):
        pairs = [(name, dims if isinstance(dims, str) else ",".join(map(str, dims)), f"{name}={dims!r}")
                 for name, dims in specs.items()]
    else:
        pairs = []
        for spec in specs or ():
            match = _INPUT_SPEC.match(str(spec))
            if not match:
                raise ValueError(f"{spec!r}: expected NAME=D1,D2,... (for example x=B,784)")
            pairs.append((match.group(1), match.group(2), spec))
    out: dict = {}
    for name, body, spec in pairs:
        dims_out: list = []
        inner = body.strip().strip("()[]").strip()
        toks = [t.strip() for t in inner.split(",")] if inner else []
        if len(toks) > 1 and not toks[-1]:
            toks.pop()  # a trailing comma, as in a Python tuple: x=(B,)
        for position, tok in enumerate(toks, start=1):
            if not tok:
                raise ValueError(f"{spec!r}: dimension {position} is empty; expected NAME=D1,D2,... "
                                 "with an int, a name or ? for each dimension (for example x=B,3,28)")
            try:
                d = parse_dim(tok)
            except ValueError:
                raise ValueError(f"{spec!r}: {tok!r} is not a dimension (use an int or a name)") from None
            if isinstance(d, int) and d < 0:
                raise ValueError(f"{spec!r}: dimension {d} is negative")
            dims_out.append(d if isinstance(d, int) or d is None else tok.replace(" ", ""))
        out[name] = dims_out
    return out
