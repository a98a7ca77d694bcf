"""``semseg serve`` as a real process on 127.0.0.1: the README's curl call, hostile uploads over
a socket, and the command's option checks (exit code 2, one line, no traceback)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from semseg.cli import main

httpx = pytest.importorskip("httpx")


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_readme_curl_call_returns_class_shares(live_server, street_jpeg, tmp_path):
    image = tmp_path / "street.jpg"
    image.write_bytes(street_jpeg)
    out = subprocess.run(["curl", "-sS", "-F", f"image=@{image}", f"{live_server}/v1/segment"],
                         capture_output=True, text=True, timeout=120, check=True)
    body = json.loads(out.stdout)
    assert (body["model"], body["width"], body["height"]) == ("default", 480, 360)
    assert set(body["shares"]) <= set(body["classes"]) and "road" in body["shares"]
    assert sum(body["shares"].values()) == pytest.approx(1.0, abs=1e-4)


def test_hostile_uploads_over_a_socket(live_server, street_jpeg, bomb_png):
    big = b"\xff\xd8\xff" + bytes(17 * 2**20)  # over the default 16 MiB body cap
    with httpx.Client(base_url=live_server, timeout=120) as client:
        replies = {
            413: client.post("/v1/segment", files={"image": ("big.jpg", big, "image/jpeg")}),
            415: client.post("/v1/segment", files={"image": ("x.png", b"%PDF-1.7", "image/png")}),
            422: client.post("/v1/segment",
                             files={"image": ("t.jpg", street_jpeg[:9000], "image/jpeg")}),
            "bomb": client.post("/v1/segment",
                                files={"image": ("b.png", bomb_png(60000, 60000), "image/png")}),
        }
        after = client.post("/v1/segment", files={"image": ("s.jpg", street_jpeg, "image/jpeg")})
        metrics = client.get("/metrics").text
    for status, r in replies.items():
        assert r.status_code == (413 if status == "bomb" else status), r.text
        assert r.headers["content-type"] == "application/json" and r.json()["detail"]
    assert after.status_code == 200 and after.json()["shares"]
    assert 'path="/v1/segment",status="413"} 2' in metrics


@pytest.mark.parametrize("argv, message", [
    (["serve", "default", "--workers", "64"], "exceeds the"),
    (["serve", "default", "--threads", "0"], "threads >= 1"),
    (["serve", "missing/model.pt"], "missing/model.pt: model file not found"),
    (["serve", "default", "--port", "70000"], "--port 70000"),
    (["serve", "a/net.pt", "b/net.safetensors"], "both are called 'net'"),
])
def test_bad_options_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err
