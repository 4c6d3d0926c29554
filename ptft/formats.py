"""The three output formats of every command, at stated precision.

- ``csv``: every float as Python's ``repr`` (the shortest text that reads back to the same
  float64 bit for bit); NaN is an empty cell, infinities are ``inf`` / ``-inf``.
- ``json``: a list of records, floats as ``repr`` as well; NaN is ``null``, infinities are
  ``Infinity`` / ``-Infinity`` (read by Python's ``json`` and by pandas).
- ``table``: aligned text for reading, rounded to :func:`table_digits` significant digits
  (enough that rounding stays ten times below the relative tolerance in force); a last line
  says so and points at csv/json for every digit. A missing value (NaN) is a blank cell.
"""
from __future__ import annotations

import json
import math

FORMATS = ("table", "csv", "json")
TABLE_DIGITS = 6         # significant digits of the text table when no tolerance applies


def table_digits(rtol: float | None = None) -> int:
    """Significant digits that keep the rounding error (half a unit in the last digit,
    relative <= 5 x 10^-digits) at most a tenth of ``rtol``; :data:`TABLE_DIGITS` without one."""
    if rtol is None or not (0.0 < rtol < 1.0):
        return TABLE_DIGITS
    return max(TABLE_DIGITS, min(17, math.ceil(-math.log10(rtol)) + 2))


def render(frame, fmt: str, *, rtol: float | None = None, head: str = "") -> str:
    """``frame`` (a pandas DataFrame) as ``fmt``; ``head`` lines go above the text table only."""
    if fmt == "csv":
        return to_csv(frame)
    if fmt == "json":
        return to_json(frame)
    frame, shared = _split_shared(frame)
    return head + shared + to_table(frame, rtol)


def _split_shared(frame):
    """(frame without the parameter columns that hold one value in every row, a header line
    naming them): a sweep over alpha need not repeat its task on every line. Text only; csv and
    json keep every column."""
    from symbolic.registry import PARAMS

    if len(frame) < 2:
        return frame, ""
    same = [c for c in frame.columns if c in PARAMS and frame[c].nunique(dropna=False) == 1]
    if not same:
        return frame, ""
    text = "  ".join(f"{c}={_show(frame[c].iloc[0])}" for c in same)
    return frame.drop(columns=same), f"every row: {text}\n"


def _show(value) -> str:
    value = _plain(value)
    return "" if value is None else f"{value:.12g}" if isinstance(value, float) else str(value)


def to_csv(frame) -> str:
    # pandas writes float64 with repr when no float_format is given
    return frame.to_csv(index=False)


def _plain(value):
    """A JSON-ready Python value (numpy scalars unwrapped; NaN -> None)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def to_json(frame) -> str:
    cols = [str(c) for c in frame.columns]
    records = [dict(zip(cols, map(_plain, row))) for row in frame.itertuples(index=False, name=None)]
    return json.dumps(records, indent=1, allow_nan=True) + "\n"


def to_table(frame, rtol: float | None = None) -> str:
    digits = table_digits(rtol)
    text = frame.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.{digits}g}")
    why = f", within the rtol {rtol:g} of gen_error" if rtol is not None else ""
    return (f"{text}\n(numbers rounded to {digits} significant digits{why}; "
            "--format csv or json prints every digit)\n")
