"""Uploads cannot hurt the server: oversized bodies are refused while they stream (before anything is
spooled), hostile workbooks get a clear finding instead of freezing the app, and the server answers other
requests while an upload is being read. Over HTTP against the demo (uvicorn), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from conftest import LiveServer
from test_web import bearer_token, login
from xlsx_bombs import cell_bomb, dimension_bomb, zip_bomb

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _raw(server: LiveServer, head: bytes) -> bytes:
    """Send a request's head by hand (no body) and return the server's answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(head)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            more = sock.recv(65536)
            if not more:
                break
            answer += more
        return answer


def _length(answer: bytes) -> int:
    found = re.search(rb"(?i)content-length: (\d+)", answer)
    return int(found.group(1)) if found else 0


def test_an_anonymous_150_mb_login_is_refused_before_its_body_is_read(demo_server: LiveServer) -> None:
    # headers only: a server that reads (spools) the body first would wait here for 150 MB
    answer = _raw(demo_server, b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
                               b"\r\nContent-Length: 157286400\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # the same through the API path answers JSON
    answer = _raw(demo_server, b"POST /api/imports HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                               b"boundary=x\r\nContent-Length: 9999999999999\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413") and b'"detail"' in answer, answer[:300]


def test_a_chunked_body_is_refused_once_it_passes_the_limit(demo_server: LiveServer) -> None:
    """No Content-Length to refuse up front: the body is counted as it streams (64 MB to a 1 MiB form)."""
    def body() -> Iterator[bytes]:
        for _ in range(1024):
            yield b"a" * 65536

    r = httpx.post(f"{demo_server.url}/login", content=body(), timeout=60,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413


def test_a_file_route_takes_files_larger_than_a_form_may_be(demo_server: LiveServer) -> None:
    """The 1 MiB limit is for forms and JSON; a 3 MB meter export goes through (previewed, not stored)."""
    token = bearer_token(demo_server, "esco", "big-file")
    start = datetime(2024, 1, 1)
    text = "表号,时间,用量\n" + "".join(f"WX-SMZX-E11,{start + timedelta(minutes=15 * i):%Y-%m-%d %H:%M},1.25\n"
                                       for i in range(90_000))
    assert len(text.encode()) > 3_000_000
    r = httpx.post(f"{demo_server.url}/api/imports", headers={"Authorization": f"Bearer {token}"},
                   files={"file": ("big.csv", text.encode())}, timeout=120)
    assert r.status_code == 201, r.text
    assert (r.json()["rows"], r.json()["status"]) == (90_000, "previewed")


class Heartbeat:
    """Asks /healthz over and over while something else runs; every answer must come (within 10 s)."""

    def __init__(self, server: LiveServer) -> None:
        self.server, self.answers, self.failures = server, 0, []  # type: ignore[var-annotated]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=10) as c:
            while not self.stop.is_set():
                try:
                    assert c.get("/healthz").status_code == 200
                    self.answers += 1
                except (httpx.HTTPError, AssertionError) as exc:
                    self.failures.append(repr(exc))
                self.stop.wait(0.05)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(15)


@pytest.mark.parametrize("bomb", ["cell_bomb", "zip_bomb"])
def test_an_xlsx_bomb_gets_a_clear_finding_and_the_server_keeps_answering(demo_server: LiveServer,
                                                                          bomb: str) -> None:
    data = {"cell_bomb": cell_bomb, "zip_bomb": zip_bomb}[bomb]("WX-SMZX-E11")
    assert len(data) < 400_000  # small on the wire, huge once unzipped
    token = bearer_token(demo_server, "esco", f"bomb-{bomb}")
    with Heartbeat(demo_server) as beat, httpx.Client(base_url=demo_server.url, timeout=120) as c:
        r = c.post("/api/imports", headers={"Authorization": f"Bearer {token}"},
                   files={"file": (f"{bomb}.xlsx", data, XLSX)})
    assert r.status_code == 201, r.text
    batch = r.json()
    assert (batch["status"], batch["counts"].get("file_too_large")) == ("previewed", 1)
    message = next(f["message"] for f in batch["findings"] if f["code"] == "file_too_large")
    assert ("EMC_IMPORT_MAX_CELLS" if bomb == "cell_bomb" else "EMC_XLSX_MAX_EXPANDED_BYTES") in message
    assert beat.failures == [] and beat.answers > 0


def test_a_sheet_declaring_the_whole_grid_reads_only_its_cells(demo_server: LiveServer) -> None:
    """A1:XFD1048576 with one empty cell in the last corner: the page shows the two real readings."""
    c, csrf = login(demo_server, "esco")
    with Heartbeat(demo_server) as beat:
        r = c.post("/imports", files={"file": ("grid.xlsx", dimension_bomb("WX-SMZX-E11"), XLSX)},
                   data={"csrf_token": csrf}, headers={"HX-Request": "true"}, timeout=120)
    assert r.status_code == 204, r.text
    batch = c.get(f"/api/imports/{r.headers['HX-Redirect'].rsplit('/', 1)[1]}").json()
    assert (batch["rows"], batch["errors"], batch["status"]) == (2, 0, "previewed"), batch["findings"][:5]
    assert beat.failures == []


def test_a_csv_field_over_128_kib_is_a_finding(demo_server: LiveServer) -> None:
    token = bearer_token(demo_server, "esco", "wide-field")
    text = "表号,时间,用量\n" + "WX-SMZX-E11,2024-05-01 00:00," + "9" * 200_000 + "\n"
    r = httpx.post(f"{demo_server.url}/api/imports", headers={"Authorization": f"Bearer {token}"},
                   files={"file": ("wide.csv", text.encode())}, timeout=60)
    assert r.status_code == 201, r.text
    assert r.json()["errors"] >= 1 and r.json()["status"] == "previewed"
