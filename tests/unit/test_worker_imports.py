"""What a worker loads: packages that would only cost memory stay out (see README, Memory)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BUILD = """
import json, os, sys
os.environ.update(POLYROUTE_DATA_DIR=sys.argv[1], POLYROUTE_DATABASE_URL="sqlite:///" + sys.argv[1] + "/x.db")
from app.main import create_app
from app.settings import load_settings
app = create_app(load_settings())
app.openapi_schema  # the document is built from msgspec schemas alone
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_building_the_app_loads_neither_pydantic_nor_the_httpx_command_line(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", BUILD, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert {"app", "litestar", "httpx", "msgspec"} <= loaded
    assert not {"pydantic", "pydantic_core", "rich", "pygments"} & loaded
