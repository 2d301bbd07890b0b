"""The formula language: a hand-written tokenizer and a Pratt parser producing ``Expr`` trees.

Grammar (lowest to highest binding): ``|``; ``&``; comparisons ``> < >= <= == !=``; ``+ -``;
``* /``; unary ``-``; atoms: numbers (``5``, ``0.8``, ``1e-12``), fields (``$close``), calls
(``Mean($close, 5)``) and parentheses. All binary operators are left-associative. Window
arguments must be integer literals in 1..``MAX_WINDOW`` (0 allowed for ``Ref``). A formula may
nest at most ``MAX_DEPTH`` levels and hold at most ``MAX_NODES`` nodes (a 500-term sum is
refused with a clear error, never a ``RecursionError``). Errors raise ``FormulaError`` whose
message names the problem and its 1-based column, e.g. ``unknown operator 'Meen' at column 1``.
No ``eval``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from flyer.factors.expr import (
    ALIASES,
    CS_OPS,
    FIELDS,
    FUNCS,
    MAX_DEPTH,
    MAX_NODES,
    MAX_WINDOW,
    NEUTRALIZE_BY,
    PAIR_OPS,
    PRECEDENCE,
    ROLLING_OPS,
    BinOp,
    Const,
    CrossSection,
    Expr,
    Field,
    Func,
    PairRolling,
    Rolling,
)

from flyer.core.errors import FlyerError


class FormulaError(FlyerError, ValueError):
    """A formula that does not parse; ``column`` is 1-based (0 when unknown). Bad input: exit 2."""

    exit_code = 2

    def __init__(self, message: str, column: int = 0) -> None:
        super().__init__(f"{message} at column {column}" if column else message)
        self.column = column


@dataclass(frozen=True)
class Token:
    kind: str  # num, field, name, op, lparen, rparen, comma, end
    text: str
    col: int  # 1-based


_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<field>\$[A-Za-z_][A-Za-z_0-9]*)
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>>=|<=|==|!=|[-+*/><&|])
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
""", re.VERBOSE)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens (whitespace dropped), ending with an ``end`` token."""
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise FormulaError(f"unexpected character {text[pos]!r}", pos + 1)
        if m.lastgroup != "ws":
            tokens.append(Token(m.lastgroup or "", m.group(), pos + 1))
        pos = m.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def parse(text: str) -> Expr:
    """Parse one formula into an expression tree; raises ``FormulaError``."""
    if not text or not text.strip():
        raise FormulaError("empty formula")
    parser = _Parser(tokenize(text))
    expr = parser.expression(0)
    tok = parser.peek()
    if tok.kind != "end":
        raise FormulaError(f"unexpected {_describe(tok)}", tok.col)
    check_size(expr)
    return expr


def check_size(expr: Expr) -> None:
    """``FormulaError`` when ``expr`` nests deeper than ``MAX_DEPTH`` or has more than
    ``MAX_NODES`` nodes (computed without recursion)."""
    depth: dict[int, int] = {}
    for nodes, node in enumerate(expr.walk(), start=1):
        if nodes > MAX_NODES:
            raise FormulaError(f"formula too large: more than {MAX_NODES} nodes (split it into several factors)")
        depth[id(node)] = 1 + max((depth[id(c)] for c in node.children()), default=0)
        if depth[id(node)] > MAX_DEPTH:
            raise FormulaError(f"formula too deep: more than {MAX_DEPTH} nested levels "
                               "(e.g. a long chain of + or nested calls; split it into several factors)")


def _describe(tok: Token) -> str:
    return "end of formula" if tok.kind == "end" else f"'{tok.text}'"


class _Parser:
    """Pratt parser over a token list (``expression`` handles binding powers)."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.nesting = 0  # open calls and parentheses: bounds the parser's own recursion

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, kind: str, what: str) -> Token:
        tok = self.next()
        if tok.kind != kind:
            raise FormulaError(f"expected {what}, found {_describe(tok)}", tok.col)
        return tok

    def expression(self, min_bp: int) -> Expr:
        self.nesting += 1
        try:
            if self.nesting > MAX_DEPTH:
                raise FormulaError(f"formula too deep: more than {MAX_DEPTH} nested levels", self.peek().col)
            return self._expression(min_bp)
        finally:
            self.nesting -= 1

    def _expression(self, min_bp: int) -> Expr:
        left = self.prefix()
        while True:
            tok = self.peek()
            if tok.kind != "op" or PRECEDENCE[tok.text] <= min_bp:
                return left
            self.next()
            left = BinOp(tok.text, left, self.expression(PRECEDENCE[tok.text]))

    def prefix(self) -> Expr:
        tok = self.next()
        if tok.kind == "num":
            return Const(float(tok.text))
        if tok.kind == "field":
            name = tok.text[1:]
            if name not in FIELDS:
                raise FormulaError(f"unknown field '{tok.text}'", tok.col)
            return Field(name)
        if tok.kind == "op" and tok.text == "-":
            operand = self.expression(6)
            if isinstance(operand, Const):
                return Const(-operand.value)
            return BinOp("-", Const(0.0), operand)
        if tok.kind == "lparen":
            inner = self.expression(0)
            self.expect("rparen", "')'")
            return inner
        if tok.kind == "name":
            return self.call(tok)
        raise FormulaError(f"unexpected {_describe(tok)}", tok.col)

    def call(self, name_tok: Token) -> Expr:
        if self.peek().kind != "lparen":
            raise FormulaError(f"'{name_tok.text}' is not a field or a call (fields start with $)",
                               name_tok.col)
        self.next()
        args: list[tuple[Expr | str, Token]] = []
        if self.peek().kind != "rparen":
            while True:
                tok = self.peek()
                if tok.kind == "name" and tok.text in NEUTRALIZE_BY and self.tokens[self.i + 1].kind != "lparen":
                    self.next()
                    args.append((tok.text, tok))
                else:
                    args.append((self.expression(0), tok))
                if self.peek().kind == "comma":
                    self.next()
                    continue
                self.expect("rparen", "',' or ')'")
                break
        else:
            self.next()
        return _build_call(name_tok, args)


def _build_call(name_tok: Token, args: list[tuple[Expr | str, Token]]) -> Expr:
    """Check arity and argument kinds of a call and build its node."""
    raw = name_tok.text
    name = ALIASES.get(raw, raw)
    col = name_tok.col
    if raw == "IndNeutralize":
        args = [args[0], ("industry", name_tok)] if args else args
    exprs = [a for a, _ in args if isinstance(a, Expr)]
    words = [a for a, _ in args if isinstance(a, str)]
    if name in FUNCS:
        _arity(raw, args, FUNCS[name], col)
        _no_words(raw, words, col)
        return Func(name, tuple(exprs))
    if name in ROLLING_OPS:
        n = 3 if name == "Quantile" else 2
        _arity(raw, args, n, col, "(x, window, q)" if n == 3 else "(x, window)")
        _no_words(raw, words, col)
        window = _window(raw, args[1], allow_zero=(name == "Ref"))
        q = _quantile(args[2]) if n == 3 else None
        return Rolling(name, exprs[0], window, q)
    if name in PAIR_OPS:
        _arity(raw, args, 3, col, "(x, y, window)")
        _no_words(raw, words, col)
        return PairRolling(name, exprs[0], exprs[1], _window(raw, args[2]))
    if name in CS_OPS:
        if not args or not isinstance(args[0][0], Expr) or len(exprs) != 1:
            raise FormulaError(f"{raw} expects one expression argument", col)
        if name == "Neutralize":
            by = tuple(words) or ("industry", "cap")
            if len(set(by)) < len(by):
                raise FormulaError(f"{raw}: repeated regressor", col)
            return CrossSection(name, exprs[0], by)
        _no_words(raw, words, col)
        return CrossSection(name, exprs[0])
    raise FormulaError(f"unknown operator '{raw}'", col)


def _arity(raw: str, args: list, n: int, col: int, sig: str = "") -> None:
    if len(args) != n:
        plural = "s" if n != 1 else ""
        raise FormulaError(f"{raw} expects {n} argument{plural}{' ' + sig if sig else ''}, got {len(args)}", col)


def _no_words(raw: str, words: list[str], col: int) -> None:
    if words:
        raise FormulaError(f"'{words[0]}' is only allowed in Neutralize, not in {raw}", col)


def _window(raw: str, arg: tuple[Expr | str, Token], allow_zero: bool = False) -> int:
    expr, tok = arg
    ok = isinstance(expr, Const) and float(expr.value).is_integer()
    lo = 0 if allow_zero else 1
    if not ok or expr.value < lo:  # type: ignore[union-attr]
        what = "a non-negative" if allow_zero else "a positive"
        raise FormulaError(f"{raw} window must be {what} integer literal, got '{expr}'", tok.col)
    if expr.value > MAX_WINDOW:  # type: ignore[union-attr]
        raise FormulaError(f"{raw} window {int(expr.value)} is too long (at most {MAX_WINDOW} rows)", tok.col)  # type: ignore[union-attr]
    return int(expr.value)  # type: ignore[union-attr]


def _quantile(arg: tuple[Expr | str, Token]) -> float:
    expr, tok = arg
    if not isinstance(expr, Const) or not 0.0 <= expr.value <= 1.0:
        raise FormulaError(f"Quantile level must be a number in [0, 1], got '{expr}'", tok.col)
    return float(expr.value)
