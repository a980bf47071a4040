"""Exact arithmetic on a whitelisted expression language, evaluated by SymPy.

The expression is parsed with `ast` and only numbers, `+ - * / // % **` (and `^` as a power),
unary signs, parentheses, the constants and the functions below are accepted; everything
else (names, attributes, subscripts, lambdas, keywords, strings...) is refused with a message
naming it. No `eval`: the SymPy expression is built from the tree node by node, and each node
is checked against size limits before SymPy computes it, so `9**9**9` or `factorial(10**9)`
are refused in microseconds instead of running for hours. The limits also keep every exact
integer printable (CPython refuses to print integers over 4300 digits by default).
"""

from __future__ import annotations

import ast
import decimal
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy

MAX_EXPRESSION_CHARS = 1000
MAX_NODES = 400
MAX_DEPTH = 60
# Exact results (numerators, denominators, integers) stay under this many digits.
MAX_DIGITS = 4000
# Roots of huge numbers make SymPy search for perfect powers (seconds at ~10^4 digits).
MAX_ROOT_BASE_DIGITS = 300
# Approximations stay under this many decimal digits of magnitude (exp(10^6) takes seconds).
MAX_MAGNITUDE_DIGITS = 100_000
MAX_EXP_ARGUMENT = 10_000
MAX_FACTORIAL = 1000
# Significant digits of the decimal approximation.
DECIMAL_DIGITS = 15


class ExpressionError(ValueError):
    """An expression that is not allowed or cannot be evaluated; the message says why."""


@dataclass(frozen=True, slots=True)
class Function:
    call: Callable[..., Any]
    min_args: int
    max_args: int | None
    # Largest |argument| accepted (for functions whose cost grows with it), or None.
    max_argument: float | None = None


def _log(x: Any, base: Any = None) -> Any:
    return sympy.log(x) if base is None else sympy.log(x, base)


FUNCTIONS: dict[str, Function] = {
    "sqrt": Function(sympy.sqrt, 1, 1),
    "cbrt": Function(sympy.cbrt, 1, 1),
    "root": Function(sympy.root, 2, 2),
    "exp": Function(sympy.exp, 1, 1, MAX_EXP_ARGUMENT),
    "log": Function(_log, 1, 2),
    "ln": Function(sympy.log, 1, 1),
    "log10": Function(lambda x: sympy.log(x, 10), 1, 1),
    "log2": Function(lambda x: sympy.log(x, 2), 1, 1),
    "sin": Function(sympy.sin, 1, 1),
    "cos": Function(sympy.cos, 1, 1),
    "tan": Function(sympy.tan, 1, 1),
    "asin": Function(sympy.asin, 1, 1),
    "acos": Function(sympy.acos, 1, 1),
    "atan": Function(sympy.atan, 1, 1),
    "atan2": Function(sympy.atan2, 2, 2),
    "sinh": Function(sympy.sinh, 1, 1, MAX_EXP_ARGUMENT),
    "cosh": Function(sympy.cosh, 1, 1, MAX_EXP_ARGUMENT),
    "tanh": Function(sympy.tanh, 1, 1, MAX_EXP_ARGUMENT),
    "abs": Function(sympy.Abs, 1, 1),
    "sign": Function(sympy.sign, 1, 1),
    "floor": Function(sympy.floor, 1, 1),
    "ceiling": Function(sympy.ceiling, 1, 1),
    "ceil": Function(sympy.ceiling, 1, 1),
    "factorial": Function(sympy.factorial, 1, 1, MAX_FACTORIAL),
    "binomial": Function(sympy.binomial, 2, 2, MAX_FACTORIAL),
    "gcd": Function(lambda *xs: sympy.gcd(list(xs)), 2, None),
    "lcm": Function(lambda *xs: sympy.lcm(list(xs)), 2, None),
    "min": Function(sympy.Min, 1, None),
    "max": Function(sympy.Max, 1, None),
}

CONSTANTS: dict[str, Any] = {"pi": sympy.pi, "e": sympy.E, "E": sympy.E, "tau": 2 * sympy.pi}


def parse_tree(text: str, max_chars: int, max_nodes: int) -> ast.expr:
    """The syntax tree of an untrusted expression, within size bounds (parsed, never run);
    `ExpressionError` for anything refused. Shared by the calculator and the verify tool."""
    if len(text) > max_chars:
        raise ExpressionError(f"expression longer than {max_chars} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"not a valid expression: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError):
        raise ExpressionError("not a valid expression") from None
    if sum(1 for _ in ast.walk(tree)) > max_nodes:
        raise ExpressionError(f"expression has more than {max_nodes} parts")
    return tree.body


def evaluate(expression: str) -> Any:
    """The exact SymPy value of `expression`; `ExpressionError` for anything refused."""
    body = parse_tree(expression, MAX_EXPRESSION_CHARS, MAX_NODES)
    try:
        value = _Builder(expression.strip()).build(body, 0)
    except ZeroDivisionError:
        raise ExpressionError("division by zero") from None
    if value.has(sympy.zoo) or value.has(sympy.oo) or value.has(-sympy.oo):
        raise ExpressionError("the result is infinite (division by zero?)")
    if value.has(sympy.nan):
        raise ExpressionError("the result is undefined")
    return value


def render(value: Any) -> tuple[str, str]:
    """The exact value as text (`1/3`, `2*sqrt(2)`) and its decimal approximation."""
    exact = sympy.sstr(value)
    if value.is_Integer and len(exact) <= DECIMAL_DIGITS:
        return exact, exact
    return exact, sympy.sstr(sympy.N(value, DECIMAL_DIGITS))


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source

    def build(self, node: ast.expr, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, ast.Constant):
            return self._number(node)
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            raise ExpressionError(f"unknown name {node.id!r}; constants: {', '.join(CONSTANTS)}")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
            operand = self.build(node.operand, depth + 1)
            return operand if isinstance(node.op, ast.UAdd) else -operand
        if isinstance(node, ast.BinOp):
            return self._binary(node, depth)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        raise ExpressionError(f"{_describe(node)} is not allowed in an arithmetic expression")

    def _number(self, node: ast.Constant) -> Any:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ExpressionError(f"{value!r} is not a number")
        if isinstance(value, int):
            return sympy.Integer(value)
        # Exact decimal of the literal as written (0.1 is 1/10, not the nearest binary float).
        text = (ast.get_source_segment(self.source, node) or repr(value)).replace("_", "")
        try:
            exact = decimal.Decimal(text)
        except decimal.InvalidOperation:
            exact = decimal.Decimal(repr(value))
        if not exact.is_finite() or abs(exact.adjusted()) > MAX_DIGITS:
            raise ExpressionError(f"number {text} is too large")
        return sympy.Rational(str(exact))

    def _binary(self, node: ast.BinOp, depth: int) -> Any:
        left = self.build(node.left, depth + 1)
        right = self.build(node.right, depth + 1)
        op = node.op
        if isinstance(op, ast.Add):
            result = left + right
        elif isinstance(op, ast.Sub):
            result = left - right
        elif isinstance(op, ast.Mult):
            result = left * right
        elif isinstance(op, ast.Div):
            result = left / right
        elif isinstance(op, ast.FloorDiv):
            result = sympy.floor(left / right)
        elif isinstance(op, ast.Mod):
            result = sympy.Mod(left, right)
        elif isinstance(op, ast.Pow | ast.BitXor):
            _check_power(left, right)
            result = left**right
        else:
            raise ExpressionError(f"operator {_describe(op)} is not allowed")
        return _checked(result)

    def _call(self, node: ast.Call, depth: int) -> Any:
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(
                f"{_describe(node.func)} cannot be called; only functions by name"
            )
        name = node.func.id
        function = FUNCTIONS.get(name)
        if function is None:
            raise ExpressionError(f"unknown function {name!r}; functions: {', '.join(FUNCTIONS)}")
        if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
            raise ExpressionError(f"{name}() takes positional arguments only")
        count = len(node.args)
        if count < function.min_args or (
            function.max_args is not None and count > function.max_args
        ):
            expected = (
                f"{function.min_args}"
                if function.min_args == function.max_args
                else f"at least {function.min_args}"
                if function.max_args is None
                else f"{function.min_args} to {function.max_args}"
            )
            raise ExpressionError(f"{name}() takes {expected} arguments, got {count}")
        args = [self.build(arg, depth + 1) for arg in node.args]
        if function.max_argument is not None:
            for arg in args:
                if _magnitude(arg) > function.max_argument:
                    raise ExpressionError(
                        f"{name}() argument too large (limit {function.max_argument:g})"
                    )
        return _checked(function.call(*args))


def _check_power(base: Any, exponent: Any) -> None:
    """Refuse a power whose exact value or approximation would be too large to compute."""
    if not exponent.is_number or not base.is_number:
        return
    is_root = exponent.is_Rational and not exponent.is_Integer and base.is_Rational
    if is_root and max(_digits(base.p), _digits(base.q)) > MAX_ROOT_BASE_DIGITS:
        raise ExpressionError(f"roots of numbers over {MAX_ROOT_BASE_DIGITS} digits are refused")
    size = _magnitude(exponent) * _log10_size(base)
    exact = exponent.is_Integer and base.is_Rational
    limit = MAX_DIGITS if exact else MAX_MAGNITUDE_DIGITS
    if size > limit:
        raise ExpressionError(f"the result would have about {size:.3g} digits (limit {limit})")


def _checked(value: Any) -> Any:
    """`value`, unless one of its exact numbers has grown past the digit limit."""
    numbers = [value] if value.is_Rational else value.atoms(sympy.Rational)
    for number in numbers:
        if max(_digits(number.p), _digits(number.q)) > MAX_DIGITS:
            raise ExpressionError(f"an exact value would exceed {MAX_DIGITS} digits")
    return value


def _digits(n: int) -> int:
    # From the bit length: exact enough for a limit, and free (no int-to-str conversion).
    return int(abs(n).bit_length() * 0.30103) + 1


def _log10_size(value: Any) -> float:
    """A bound on log10 of the size of `value`'s exact digits (at least that of its magnitude)."""
    if value.is_Rational:
        return math.log10(max(abs(value.p), abs(value.q), 1)) if value not in (0, 1, -1) else 0.0
    sizes = [math.log10(max(abs(a.p), abs(a.q), 1)) for a in value.atoms(sympy.Rational)]
    magnitude = _magnitude(value)
    sizes.append(abs(math.log10(magnitude)) if magnitude > 0 else 0.0)
    return max(sizes)


def _magnitude(value: Any) -> float:
    """|value| as a float (inf when too large to say), from a 15-digit approximation."""
    if value.is_Rational:
        try:
            return float(abs(value))
        except OverflowError:
            return math.inf
    approx = sympy.N(value, 15)
    try:
        return float(abs(complex(approx)))
    except (TypeError, ValueError, OverflowError):
        return math.inf


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access",
        ast.UnaryOp: "the operators ~ and not",
        ast.Subscript: "subscripting",
        ast.Lambda: "a lambda",
        ast.Compare: "a comparison",
        ast.BoolOp: "a boolean operator",
        ast.IfExp: "a conditional",
        ast.List: "a list",
        ast.Tuple: "a tuple",
        ast.Dict: "a dict",
        ast.Set: "a set",
        ast.ListComp: "a comprehension",
        ast.GeneratorExp: "a generator",
        ast.NamedExpr: "an assignment",
        ast.JoinedStr: "a string",
        ast.Await: "await",
        ast.Starred: "unpacking",
        ast.BitAnd: "&",
        ast.BitOr: "|",
        ast.LShift: "<<",
        ast.RShift: ">>",
        ast.MatMult: "@",
    }
    return names.get(type(node), type(node).__name__)
