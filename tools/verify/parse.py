"""Untrusted expressions and inequalities, parsed into SymPy over declared variables only.

Same approach as `tools.builtin.arithmetic`: `ast.parse` and a node-by-node builder on a
whitelist, never `eval` or `sympify` on the text. Accepted: numbers (decimals become exact
Rationals as written: `0.1` is 1/10), the declared variables, `pi`, `+ - * / **` (the exponent
an integer literal, `|n| <= MAX_EXPONENT`), unary signs, parentheses and the functions in
`FUNCTIONS`. Everything else (`__import__`, attributes, other calls, lambdas, subscripts,
undeclared names, strings) is refused with an `ExpressionError` naming it. A degree bound is
tracked while building, so `(x+1)**30**30` or nested powers are refused before SymPy expands
anything.

An inequality is `lhs OP rhs` with OP in `<= < >= > ==` (chains like `0 <= x <= 1` are a
conjunction); it becomes `Constraint(lhs - rhs, OP)`, meaning `lhs - rhs OP 0`.
"""

from __future__ import annotations

import ast
import decimal
import re
from dataclasses import dataclass
from typing import Any

import sympy

from tools.builtin.arithmetic import ExpressionError, parse_tree

__all__ = [
    "Constraint",
    "ExpressionError",
    "make_symbols",
    "negate",
    "parse_conjunction",
    "parse_dnf",
    "parse_expression",
    "parse_number",
]

MAX_EXPRESSION_CHARS = 2000
MAX_NODES = 600
MAX_DEPTH = 60
MAX_EXPONENT = 30
# Bound on the total degree (functions count as their argument): keeps expansion and z3 small.
MAX_DEGREE = 40
MAX_VARIABLES = 8
# Digits of any exact number: literals and constant powers alike.
MAX_DIGITS = 400
OPERATORS = ("<=", "<", ">=", ">", "==")

FUNCTIONS: dict[str, Any] = {
    "sin": sympy.sin,
    "cos": sympy.cos,
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "tanh": sympy.tanh,
}
CONSTANTS: dict[str, Any] = {"pi": sympy.pi}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,15}\Z")
_COMPARE = {ast.LtE: "<=", ast.Lt: "<", ast.GtE: ">=", ast.Gt: ">", ast.Eq: "=="}


@dataclass(frozen=True, slots=True)
class Constraint:
    """`expr OP 0`."""

    expr: Any
    op: str

    def __str__(self) -> str:
        return f"{sympy.sstr(self.expr)} {self.op} 0"


def make_symbols(variables: object) -> dict[str, Any]:
    """Real SymPy symbols for the declared variable names (validated)."""
    if not isinstance(variables, list) or not variables:
        raise ExpressionError("variables must be a non-empty list of names")
    if len(variables) > MAX_VARIABLES:
        raise ExpressionError(f"at most {MAX_VARIABLES} variables")
    symbols: dict[str, Any] = {}
    for name in variables:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ExpressionError(f"variable name {name!r} is not a plain identifier")
        if name in FUNCTIONS or name in CONSTANTS:
            raise ExpressionError(f"variable name {name!r} is reserved")
        if name in symbols:
            raise ExpressionError(f"variable {name!r} declared twice")
        symbols[name] = sympy.Symbol(name, real=True)
    return symbols


def parse_expression(text: object, symbols: dict[str, Any]) -> Any:
    """The SymPy expression of `text` over `symbols`; `ExpressionError` if refused."""
    tree = _tree(text)
    if isinstance(tree, ast.Compare):
        raise ExpressionError("expected an expression, got a comparison")
    expr, _ = _Builder(str(text).strip(), symbols).build(tree, 0)
    return expr


def parse_conjunction(text: object, symbols: dict[str, Any]) -> list[Constraint]:
    """`a OP b [OP c ...]` as constraints (a chain is a conjunction)."""
    tree = _tree(text)
    if not isinstance(tree, ast.Compare):
        raise ExpressionError(f"expected an inequality like 'x**2 <= 1', got {text!r}")
    builder = _Builder(str(text).strip(), symbols)
    terms = [builder.build(tree.left, 1)[0]]
    terms += [builder.build(node, 1)[0] for node in tree.comparators]
    out = []
    for i, op_node in enumerate(tree.ops):
        op = _COMPARE.get(type(op_node))
        if op is None:
            raise ExpressionError(f"comparison must be one of {', '.join(OPERATORS)}")
        out.append(Constraint(sympy.expand(terms[i] - terms[i + 1]), op))
    return out


def parse_dnf(value: object, symbols: dict[str, Any], what: str) -> list[list[Constraint]]:
    """A union (outer list) of conjunctions (inner lists) of inequality strings."""
    if not isinstance(value, list) or len(value) > 32:
        raise ExpressionError(f"{what} must be a list (at most 32) of lists of inequalities")
    out = []
    for piece in value:
        if not isinstance(piece, list) or len(piece) > 32:
            raise ExpressionError(f"each part of {what} must be a list of inequalities")
        conj: list[Constraint] = []
        for text in piece:
            try:
                conj += parse_conjunction(text, symbols)
            except ExpressionError as exc:
                raise ExpressionError(f"{what}: {exc}") from None
        out.append(conj)
    return out


def negate(c: Constraint) -> list[list[Constraint]]:
    """The complement of `c` as a DNF (`==` becomes `< or >`)."""
    flip = {"<=": ">", "<": ">=", ">=": "<", ">": "<="}
    if c.op == "==":
        return [[Constraint(c.expr, "<")], [Constraint(c.expr, ">")]]
    return [[Constraint(c.expr, flip[c.op])]]


def parse_number(value: object, what: str) -> Any:
    """A bound given as a JSON number or a numeric expression string, as an exact Rational."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ExpressionError(f"{what} must be a number")
    number = parse_expression(value if isinstance(value, str) else repr(value), {})
    if not number.is_Rational:
        raise ExpressionError(f"{what} must be a rational number, got {value!r}")
    return number


def _tree(text: object) -> ast.expr:
    if not isinstance(text, str):
        raise ExpressionError(f"expected a string, got {type(text).__name__}")
    return parse_tree(text, MAX_EXPRESSION_CHARS, MAX_NODES)


class _Builder:
    """Builds (expression, degree bound) bottom-up; every node is checked before SymPy sees it."""

    def __init__(self, source: str, symbols: dict[str, Any]) -> None:
        self.source = source
        self.symbols = symbols

    def build(self, node: ast.expr, depth: int) -> tuple[Any, int]:
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, ast.Constant):
            return self._number(node), 0
        if isinstance(node, ast.Name):
            if node.id in self.symbols:
                return self.symbols[node.id], 1
            if node.id in CONSTANTS:
                return CONSTANTS[node.id], 0
            declared = ", ".join(self.symbols) or "none"
            raise ExpressionError(f"unknown name {node.id!r} (declared variables: {declared})")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
            value, degree = self.build(node.operand, depth + 1)
            return (value if isinstance(node.op, ast.UAdd) else -value), degree
        if isinstance(node, ast.BinOp):
            return self._binary(node, depth)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        raise ExpressionError(f"{_describe(node)} is not allowed in an expression")

    def _number(self, node: ast.Constant) -> Any:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ExpressionError(f"{value!r} is not a number")
        text = (ast.get_source_segment(self.source, node) or repr(value)).replace("_", "")
        try:
            exact = decimal.Decimal(text)
        except decimal.InvalidOperation:
            exact = decimal.Decimal(repr(value))
        if not exact.is_finite() or abs(exact.adjusted()) > MAX_DIGITS or len(text) > MAX_DIGITS:
            raise ExpressionError(f"number {text[:40]} is too large")
        return sympy.Rational(str(exact))

    def _binary(self, node: ast.BinOp, depth: int) -> tuple[Any, int]:
        op = node.op
        if isinstance(op, ast.Pow):
            return self._power(node, depth)
        if not isinstance(op, ast.Add | ast.Sub | ast.Mult | ast.Div):
            raise ExpressionError(f"operator {_describe(op)} is not allowed (use + - * / **)")
        left, dl = self.build(node.left, depth + 1)
        right, dr = self.build(node.right, depth + 1)
        if isinstance(op, ast.Add):
            result, degree = left + right, max(dl, dr)
        elif isinstance(op, ast.Sub):
            result, degree = left - right, max(dl, dr)
        elif isinstance(op, ast.Mult):
            result, degree = left * right, dl + dr
        else:
            if right == 0:
                raise ExpressionError("division by zero")
            result, degree = left / right, dl + dr
        return _checked(result, degree)

    def _power(self, node: ast.BinOp, depth: int) -> tuple[Any, int]:
        exponent = _integer_literal(node.right)
        if exponent is None or abs(exponent) > MAX_EXPONENT:
            raise ExpressionError(
                f"the exponent must be an integer literal between -{MAX_EXPONENT} and "
                f"{MAX_EXPONENT} (use sqrt() for roots)"
            )
        base, degree = self.build(node.left, depth + 1)
        if base == 0 and exponent < 0:
            raise ExpressionError("division by zero")
        return _checked(base**exponent, degree * abs(exponent))

    def _call(self, node: ast.Call, depth: int) -> tuple[Any, int]:
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(f"{_describe(node.func)} cannot be called")
        function = FUNCTIONS.get(node.func.id)
        if function is None:
            raise ExpressionError(
                f"unknown function {node.func.id!r}; functions: {', '.join(FUNCTIONS)}"
            )
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise ExpressionError(f"{node.func.id}() takes exactly one positional argument")
        arg, degree = self.build(node.args[0], depth + 1)
        return _checked(function(arg), max(degree, 1))


def _integer_literal(node: ast.expr) -> int | None:
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return sign * node.value
    return None


def _checked(value: Any, degree: int) -> tuple[Any, int]:
    if degree > MAX_DEGREE:
        raise ExpressionError(f"degree over {MAX_DEGREE}")
    if value.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan):
        raise ExpressionError("the expression is infinite or undefined (division by zero?)")
    numbers = [value] if value.is_Rational else value.atoms(sympy.Rational)
    for number in numbers:
        if max(abs(number.p), abs(number.q)).bit_length() > MAX_DIGITS * 3.33:
            raise ExpressionError(f"an exact number would exceed {MAX_DIGITS} digits")
    return value, degree


def _describe(node: ast.AST) -> str:
    names: dict[type, str] = {
        ast.Attribute: "attribute access",
        ast.Subscript: "subscripting",
        ast.Lambda: "a lambda",
        ast.Compare: "a comparison",
        ast.BoolOp: "a boolean operator",
        ast.IfExp: "a conditional",
        ast.NamedExpr: "an assignment",
        ast.JoinedStr: "a string",
        ast.UnaryOp: "the operators ~ and not",
        ast.FloorDiv: "//",
        ast.Mod: "%",
        ast.BitXor: "^ (use ** for powers)",
    }
    for kind in (ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp, ast.GeneratorExp):
        names[kind] = "a container"
    return names.get(type(node), type(node).__name__)
