"""Polyroute: a self-hosted LLM API gateway."""

import sys

# httpx imports its command-line client (rich, pygments) whenever those are installed, as Litestar's
# CLI has them installed here: 3.2 MB in every worker for a CLI we never run. A None entry makes that
# one import fail, which httpx handles by leaving its CLI out.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
