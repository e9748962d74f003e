"""One page of a table's rows and the total that matched: what every listing endpoint answers."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from typing import Any

from piccolo.columns import Column
from piccolo.custom_types import Combinable
from piccolo.table import Table

__all__ = ["Listing", "list_rows"]

Listing = tuple[list[dict[str, Any]], int]
"""One page of rows and the total that matched."""


async def list_rows(
    table: type[Table],
    filters: Sequence[Combinable],
    order_by: Sequence[Column],
    limit: int,
    offset: int,
    *,
    newest_first: bool = False,
) -> Listing:
    query = table.select().order_by(*order_by, ascending=not newest_first).limit(limit).offset(offset)
    count = table.count()
    if filters:
        where = reduce(lambda a, b: a & b, filters)
        query = query.where(where)
        count = count.where(where)
    rows: list[dict[str, Any]] = await query.run()
    total: int = await count.run()
    return rows, total
