"""The SQL of the prepare in BigQuery: each expression builds, from a table's columns, the same
text that the local prepare builds from the CSV file's fields, so that both hash the same key
and put each row in the same split (workflow/data/split.py, workflow/data/clean.py).

- A cell is cleaned as `clean` does: stripped of Python's whitespace, and written as MISSING
  when the stripped text is one of the missing-value tokens. NULL (an empty CSV field) is "".
- The whole row's key is the cleaned row as a CSV line: the fields joined by ',', a field quoted
  when it holds ',' or '"' (Python's csv.writer, with no line terminator).
- The bucket is the first 8 hex digits of the key's SHA-256, modulo 100, as `hash_bucket`.
"""

from __future__ import annotations

from collections.abc import Sequence

from trainer.kinds import DATETIME, FeatureKind
from workflow.data.clean import MISSING
from workflow.data.settings import HASH_BUCKETS

# What Python's str.strip() removes (str.isspace): RE2 character-class items.
_WHITESPACE = (
    r"\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}"
    r"\x{205f}\x{3000}"
)
_STRIP = rf"^[{_WHITESPACE}]+|[{_WHITESPACE}]+$"
# A word, as Python's str.split() finds them: a run of anything but that whitespace.
WORD = rf"[^{_WHITESPACE}]+"


def quote_name(name: str) -> str:
    """A column or table name as a quoted identifier."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def string_literal(text: str) -> str:
    """`text` as a BigQuery string literal (raw bytes of any character, escaped as needed)."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    escaped = "".join(c if c.isprintable() else f"\\U{ord(c):08x}" for c in escaped)
    return f"'{escaped}'"


def stripped(expression: str) -> str:
    """The text of `expression` stripped as Python's str.strip() strips; NULL is ""."""
    return f"REGEXP_REPLACE(IFNULL({expression}, ''), r'{_STRIP}', '')"


def cleaned(stripped_expression: str, tokens: frozenset[str]) -> str:
    """A stripped cell as `clean` writes it: MISSING when it is a missing-value token."""
    if not tokens:
        return stripped_expression
    listed = ", ".join(string_literal(token) for token in sorted(tokens))
    return (
        f"IF({stripped_expression} IN ({listed}), {string_literal(MISSING)}, {stripped_expression})"
    )


def is_token(stripped_expression: str, tokens: frozenset[str]) -> str:
    if not tokens:
        return "FALSE"
    listed = ", ".join(string_literal(token) for token in sorted(tokens))
    return f"{stripped_expression} IN ({listed})"


def csv_field(expression: str) -> str:
    """`expression` as a field of a CSV line, quoted when it holds ',' or '"'."""
    return (
        f"""IF(REGEXP_CONTAINS({expression}, r'[,"]'), """
        f"""CONCAT('"', REPLACE({expression}, '"', '""'), '"'), {expression})"""
    )


def row_line(columns: Sequence[str]) -> str:
    """The cleaned row as one CSV line, from columns that hold cleaned text."""
    if len(columns) == 1:  # csv.writer writes a lone empty field as ""
        field = quote_name(columns[0])
        return f"""IF({field} = '', '""', {csv_field(field)})"""
    return "CONCAT(" + ", ',', ".join(csv_field(quote_name(c)) for c in columns) + ")"


def hex_digest(key: str) -> str:
    return f"TO_HEX(SHA256({key}))"


def hash_bucket(digest: str) -> str:
    """The row's bucket in [0, 100), from its key's hex digest: the first 8 hex digits, as an
    integer."""
    return f"MOD(CAST(CONCAT('0x', SUBSTR({digest}, 1, 8)) AS INT64), {HASH_BUCKETS})"


def shard_number(digest: str, shards: int) -> str:
    """Which of `shards` files a row goes to: the next 8 hex digits of the same digest, so that
    the shards divide a split's rows evenly, whatever its size."""
    return f"MOD(CAST(CONCAT('0x', SUBSTR({digest}, 9, 8)) AS INT64), {shards})"


def valid_cell(kind: FeatureKind, cell: str) -> str:
    """Whether a present cell is a value of `kind`, as `kind.accepts_cell` says: its pattern,
    and for a date a day of its month (trainer/kinds/datetime.py's parse refuses 2023-02-29)."""
    valid = f"REGEXP_CONTAINS({cell}, r'^(?:{kind.cell_pattern})$')"
    if kind is DATETIME:
        valid += f" AND SAFE.PARSE_DATE('%Y-%m-%d', SUBSTR({cell}, 1, 10)) IS NOT NULL"
    return valid
