"""`./scripts/run`, the README's first command: it prints a base URL and a key that answer `demo/echo`."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import openai

from tests.fakes.server import free_port
from tests.gateway_process import ROOT


def test_scripts_run_serves_the_demo_model_with_the_printed_key(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "POLYROUTE_PORT": str(port),
        "POLYROUTE_DATA_DIR": str(tmp_path),
        "POLYROUTE_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "POLYROUTE_DEMO_KEY": "sk-poly-demo-run-script-test-key",
        "POLYROUTE_ADMIN_KEY": "pr-admin-run-script-test-key",
    }
    out = tmp_path / "stdout"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [str(ROOT / "scripts" / "run")],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, out.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.5)
        printed = out.read_text()
        base_url = next(line.split()[-1] for line in printed.splitlines() if "base URL:" in line)
        key = next(line.split()[-1] for line in printed.splitlines() if "API key:" in line)
        assert base_url == f"http://127.0.0.1:{port}/v1" and key == env["POLYROUTE_DEMO_KEY"]
        client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
        said = client.chat.completions.create(model="demo/echo", messages=[{"role": "user", "content": "hello"}])
        assert said.choices[0].message.content and said.model == "demo/echo"
        streamed = client.chat.completions.create(
            model="demo/echo", messages=[{"role": "user", "content": "hello"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
        assert text == said.choices[0].message.content
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the script's own session: sh -> uv -> the server
        assert proc.wait(30) == 0
