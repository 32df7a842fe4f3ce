"""Python literals from untrusted strings, without ``eval``.

:func:`parse_literal` accepts the part of Python that fairseq's configuration strings are written
in: numbers, strings, ``True``/``False``/``None``, tuples, lists, dicts and sets of those, a unary
minus on a number, and the list arithmetic of fairseq's own defaults,
``"[(512, 10, 5)] + [(512, 3, 2)] * 4"`` (``+`` of two lists or tuples, ``*`` of a list or tuple by
a non-negative int). Names, calls, attributes, subscripts, comprehensions and every other
construct raise :class:`LiteralError`. Sizes are bounded, so ``"[0] * 10000000000"`` is refused
instead of exhausting memory.

>>> parse_literal("[(512, 10, 5)] + [(512, 3, 2)] * 2")
[(512, 10, 5), (512, 3, 2), (512, 3, 2)]
>>> parse_literal("__import__('os').system('id')")
Traceback (most recent call last):
...
emotion_core.literals.LiteralError: not a literal: a call (only numbers, strings, True/False/None, tuples, lists, dicts, sets, unary minus and list + / * are allowed)
"""
import ast

MAX_TEXT = 10_000  # characters of one configuration string
MAX_ITEMS = 10_000  # elements of one list or tuple built by + or *

_ALLOWED = "only numbers, strings, True/False/None, tuples, lists, dicts, sets, unary minus and list + / * are allowed"
_KIND = {ast.Call: "a call", ast.Name: "a name", ast.Attribute: "an attribute", ast.Subscript: "a subscript",
         ast.Lambda: "a lambda", ast.ListComp: "a comprehension", ast.GeneratorExp: "a comprehension",
         ast.DictComp: "a comprehension", ast.SetComp: "a comprehension", ast.JoinedStr: "an f-string",
         ast.NamedExpr: "an assignment expression", ast.Compare: "a comparison", ast.BoolOp: "a boolean operator",
         ast.IfExp: "a conditional expression", ast.Starred: "a starred expression"}


class LiteralError(ValueError):
    """A string that is not a literal of the accepted subset; the message says what was found."""


def parse_literal(text):
    """The value of ``text``, a literal of the accepted subset (see the module docstring)."""
    if not isinstance(text, str):
        raise LiteralError(f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise LiteralError(f"string of {len(text)} characters (at most {MAX_TEXT})")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        raise LiteralError(f"not a Python literal ({type(err).__name__}: {err})") from None
    try:
        return _value(tree.body)
    except RecursionError:
        raise LiteralError("nested too deeply") from None


def _value(node):
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (bytes, type(Ellipsis), complex)):
            raise LiteralError(f"not a literal: {type(node.value).__name__} constant ({_ALLOWED})")
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(_value(e) for e in node.elts)
    if isinstance(node, ast.List):
        return [_value(e) for e in node.elts]
    if isinstance(node, ast.Set):
        return {_value(e) for e in node.elts}
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise LiteralError(f"not a literal: a ** in a dict ({_ALLOWED})")
        return {_value(k): _value(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _value(node.operand)
        if isinstance(operand, bool) or not isinstance(operand, (int, float)):
            raise LiteralError(f"not a literal: a sign on {type(operand).__name__} ({_ALLOWED})")
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        return _sequence_arithmetic(node.op, _value(node.left), _value(node.right))
    kind = _KIND.get(type(node), f"a {type(node).__name__} expression")
    raise LiteralError(f"not a literal: {kind} ({_ALLOWED})")


def _sequence_arithmetic(op, left, right):
    """``list + list``, ``tuple + tuple``, ``list * n`` and ``n * list``, bounded by MAX_ITEMS elements."""
    if isinstance(op, ast.Add):
        if type(left) is type(right) and isinstance(left, (list, tuple)):
            if len(left) + len(right) > MAX_ITEMS:
                raise LiteralError(f"a sequence of more than {MAX_ITEMS} elements")
            return left + right
        raise LiteralError(f"not a literal: {type(left).__name__} + {type(right).__name__} ({_ALLOWED})")
    sequence, count = (left, right) if isinstance(left, (list, tuple)) else (right, left)
    if not isinstance(sequence, (list, tuple)) or isinstance(count, bool) or not isinstance(count, int):
        raise LiteralError(f"not a literal: {type(left).__name__} * {type(right).__name__} ({_ALLOWED})")
    if count < 0 or len(sequence) * count > MAX_ITEMS:
        raise LiteralError(f"a sequence repeated {count} times (at most {MAX_ITEMS} elements)")
    return sequence * count
