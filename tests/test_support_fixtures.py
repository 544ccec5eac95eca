"""Self-checks for tests/support: the fake releases keep the real files' quirks and the fixture
server misbehaves exactly as asked. If these fail, every test built on them is suspect."""

from __future__ import annotations

import gzip
import http.client
import importlib.util
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# conftest.py normally provides these; keep this file runnable on its own.
if importlib.util.find_spec("taxi_pipeline") is None:
    sys.path.insert(0, str(ROOT / "plugins"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from taxi_pipeline.specs import GREEN, YELLOW, TaxiSpec  # noqa: E402

from tests.support.fake_tlc import (  # noqa: E402
    BLANK_GROUP,
    MonthFile,
    main,
    read_rows,
    release_path,
    unique_row_id,
    write_month,
    write_release,
)
from tests.support.http_server import Fault, FixtureServer  # noqa: E402

ROWS = 2_000
DATETIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
AMOUNT = re.compile(r"^-?(\d+|\d*\.\d+)$")


def _amount_columns(spec: TaxiSpec) -> list[str]:
    """From the spec, not the generator: the float columns that are never blank in a release."""
    return [c.name for c in spec.columns
            if c.in_dtc and c.postgres_type == "double precision" and c.name not in ("ehail_fee", "congestion_surcharge")]


@pytest.fixture(scope="module")
def release_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("release")


@pytest.fixture(scope="module")
def green_dec(release_root: Path) -> MonthFile:
    return write_month(release_root, GREEN, 2019, 12, ROWS, seed=7)


@pytest.fixture(scope="module")
def yellow_jan(release_root: Path) -> MonthFile:
    return write_month(release_root, YELLOW, 2019, 1, ROWS, seed=7)


def _columns(spec: TaxiSpec, path: Path) -> tuple[str, list[dict[str, str]]]:
    header, rows = read_rows(path)
    return header, [dict(zip(spec.dtc_columns, row)) for row in rows]


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


# --- generator ---------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["green_dec", "yellow_jan"])
def test_crlf_header_and_line_count(which: str, request: pytest.FixtureRequest) -> None:
    f: MonthFile = request.getfixturevalue(which)
    spec = GREEN if f.taxi == "green" else YELLOW
    raw = gzip.decompress(f.path.read_bytes())
    assert raw.endswith(b"\r\n")
    assert raw.count(b"\n") == raw.count(b"\r\n") == raw.count(b"\r") == ROWS + 1  # header + rows
    assert raw.split(b"\r\n", 1)[0].decode() == spec.header
    assert f.data_lines == ROWS
    assert f.gz_bytes == f.path.stat().st_size
    assert f.path == release_path(f.path.parents[1], f.taxi, f.year, f.month)
    assert f.path.name == f"{f.taxi}_tripdata_{f.year:04d}-{f.month:02d}.csv.gz"
    header, rows = read_rows(f.path)
    assert len(rows) == ROWS
    assert all(len(row) == len(spec.dtc_columns) for row in rows)


@pytest.mark.parametrize("which", ["green_dec", "yellow_jan"])
def test_blank_group_is_about_40_percent_and_blank_together(which: str, request: pytest.FixtureRequest) -> None:
    f: MonthFile = request.getfixturevalue(which)
    spec = GREEN if f.taxi == "green" else YELLOW
    group = [name for name in BLANK_GROUP if name in spec.dtc_columns]
    _, rows = _columns(spec, f.path)
    blank = [row for row in rows if row["VendorID"] == ""]
    assert 0.30 <= len(blank) / len(rows) <= 0.50
    for row in rows:
        assert len({row[name] == "" for name in group}) == 1, row  # all blank or none
    filled = [row for row in rows if row["VendorID"] != ""]
    assert {r["VendorID"] for r in filled} == {"1", "2"}
    assert {r["RatecodeID"] for r in filled} <= {"1", "2", "5"}
    assert {r["store_and_fwd_flag"] for r in filled} == {"N", "Y"}
    assert {r["passenger_count"] for r in filled} <= {str(n) for n in range(7)}
    assert {r["payment_type"] for r in filled} <= {"1", "2", "3", "4"}
    assert {r["congestion_surcharge"] for r in filled} <= {"0", "2.75"}
    if "trip_type" in spec.dtc_columns:
        assert {r["trip_type"] for r in filled} == {"1", "2"}


def test_green_ehail_fee_always_blank(green_dec: MonthFile) -> None:
    _, rows = _columns(GREEN, green_dec.path)
    assert {row["ehail_fee"] for row in rows} == {""}


@pytest.mark.parametrize("which", ["green_dec", "yellow_jan"])
def test_value_shapes(which: str, request: pytest.FixtureRequest) -> None:
    f: MonthFile = request.getfixturevalue(which)
    spec = GREEN if f.taxi == "green" else YELLOW
    _, rows = _columns(spec, f.path)
    for row in rows:
        for name in ("PULocationID", "DOLocationID"):
            assert row[name].isdigit() and 1 <= int(row[name]) <= 265 and row[name] == str(int(row[name]))
        pickup, dropoff = row[spec.pickup_column], row[spec.dropoff_column]
        assert DATETIME.match(pickup) and DATETIME.match(dropoff)
        assert timedelta(minutes=1) <= _parse(dropoff) - _parse(pickup) <= timedelta(minutes=60)
        for name in _amount_columns(spec):
            assert AMOUNT.match(row[name]), (name, row[name])
    values = [row[name] for row in rows for name in _amount_columns(spec)]
    assert any(re.match(r"^-?\.\d+$", v) for v in values), "no leading-dot value like .80"
    assert any(re.match(r"^-?\d+\.\d*0$", v) for v in values), "no trailing-zero value like 12.50"
    assert any(v.startswith("-") for v in values), "no negative amounts"
    assert any(re.match(r"^\d+$", v) for v in values), "no integer-form amounts"
    assert any(re.match(r"^\.\d+$", row["trip_distance"]) for row in rows)


def test_pickups_outside_the_month(green_dec: MonthFile, yellow_jan: MonthFile) -> None:
    for f, spec, next_month in ((green_dec, GREEN, (2020, 1)), (yellow_jan, YELLOW, (2019, 2))):
        _, rows = _columns(spec, f.path)
        pickups = [_parse(row[spec.pickup_column]) for row in rows]
        old = [p for p in pickups if p.year in (2008, 2009)]
        following = [p for p in pickups if (p.year, p.month) == next_month]
        inside = [p for p in pickups if (p.year, p.month) == (f.year, f.month)]
        assert len(old) >= 2
        assert len(following) >= 2 and all(p.day <= 3 for p in following)
        assert len(old) + len(following) + len(inside) == ROWS  # nothing anywhere else
        assert len(inside) >= ROWS * 0.99


def test_december_next_month_is_next_january(green_dec: MonthFile) -> None:
    _, rows = _columns(GREEN, green_dec.path)
    pickups = [row[GREEN.pickup_column] for row in rows]
    assert any(p.startswith("2020-01-0") for p in pickups)
    assert not any(p.startswith("2019-13") or p.startswith("2019-01") for p in pickups)


@pytest.mark.parametrize("which", ["green_dec", "yellow_jan"])
def test_hashed_field_duplicates_exist(which: str, request: pytest.FixtureRequest) -> None:
    f: MonthFile = request.getfixturevalue(which)
    spec = GREEN if f.taxi == "green" else YELLOW
    _, rows = read_rows(f.path)
    index = [spec.dtc_columns.index(name) for name in spec.postgres_hash_columns]
    counts = Counter(tuple(row[i] for i in index) for row in rows)
    assert sum(c - 1 for c in counts.values()) == 3  # duplicate_rows default
    # The md5 the merge computes sees the same duplicates.
    ids = Counter(unique_row_id(spec, row) for row in rows)
    assert len(ids) == len(counts)


def test_duplicate_rows_parameter(tmp_path: Path) -> None:
    f = write_month(tmp_path, YELLOW, 2020, 6, 500, duplicate_rows=10)
    _, rows = read_rows(f.path)
    index = [YELLOW.dtc_columns.index(name) for name in YELLOW.postgres_hash_columns]
    counts = Counter(tuple(row[i] for i in index) for row in rows)
    assert sum(c - 1 for c in counts.values()) == 10


def test_unique_row_id_canonicalizes_like_postgres() -> None:
    row = dict.fromkeys(GREEN.dtc_columns, "")
    row.update(
        {
            GREEN.pickup_column: "2019-01-01 00:00:01",
            GREEN.dropoff_column: "2019-01-01 00:10:01",
            "PULocationID": "7",
            "DOLocationID": "8",
        }
    )

    def rid(fare: str, distance: str) -> str:
        fields = {**row, "fare_amount": fare, "trip_distance": distance}
        return unique_row_id(GREEN, [fields[name] for name in GREEN.dtc_columns])

    assert rid(".80", "6") == rid("0.8", "6.00") == rid("0.80", "6.0")
    assert rid("12.50", "1") == rid("12.5", "1.0")
    assert rid("12.5", "1") != rid("12.5", "10")


def test_deterministic_by_seed(tmp_path: Path) -> None:
    a = write_month(tmp_path / "a", GREEN, 2019, 3, 500, seed=1)
    b = write_month(tmp_path / "b", GREEN, 2019, 3, 500, seed=1)
    c = write_month(tmp_path / "c", GREEN, 2019, 3, 500, seed=2)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert gzip.decompress(a.path.read_bytes()) != gzip.decompress(c.path.read_bytes())


def test_write_release_and_small_files(tmp_path: Path) -> None:
    files = write_release(tmp_path, YELLOW, [(2019, 11), (2019, 12), (2020, 1)], 50, seed=3)
    assert [(f.year, f.month) for f in files] == [(2019, 11), (2019, 12), (2020, 1)]
    assert all(f.data_lines == 50 and f.path.is_file() for f in files)
    assert len({f.path.read_bytes() for f in files}) == 3  # each month has its own stream
    empty = write_month(tmp_path, GREEN, 2019, 1, 0)
    assert gzip.decompress(empty.path.read_bytes()) == (GREEN.header + "\r\n").encode()


def test_large_file_path_keeps_promises(tmp_path: Path) -> None:
    # Above 4 * 2**16 rows the generator switches to a pool of trip timestamps; check that path too.
    rows = 270_000
    f = write_month(tmp_path, YELLOW, 2021, 2, rows, seed=5)
    raw = gzip.decompress(f.path.read_bytes())
    assert raw.count(b"\r\n") == raw.count(b"\n") == rows + 1
    # yellow: VendorID, then the pickup
    assert len(re.findall(rb"\n[^,\r\n]*,(?:2008|2009)-", raw)) >= 200
    assert len(re.findall(rb"\n[^,\r\n]*,2021-03-0[123] ", raw)) >= 200
    index = [YELLOW.dtc_columns.index(name) for name in YELLOW.postgres_hash_columns]
    counts = Counter(tuple(line.split(b",")[i] for i in index) for line in raw.split(b"\r\n")[1:-1])
    assert sum(c - 1 for c in counts.values()) == 3


def test_cli_runs_as_module_from_repo_root(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the module must find plugins/ itself
    out = subprocess.run(
        [sys.executable, "-m", "tests.support.fake_tlc", "--out", str(tmp_path), "--taxi", "all",
         "--months", "2019-11:2020-01", "--rows", "120", "--seed", "4"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 6
    assert "green_tripdata_2020-01.csv.gz" in out.stdout and "120 lines" in lines[0]
    assert release_path(tmp_path, "yellow", 2019, 12).is_file()


def test_cli_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path), "--taxi", "green", "--months", "2019-01", "--rows", "10"]) == 0
    assert "green_tripdata_2019-01.csv.gz" in capsys.readouterr().out


# --- fixture server ----------------------------------------------------------------------------


@pytest.fixture
def server(release_root: Path, green_dec: MonthFile) -> Iterator[FixtureServer]:
    with FixtureServer(release_root) as s:
        yield s
    assert s.errors == []


def _get(url: str, timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, dict(resp.headers), resp.read()


def test_binds_loopback_ephemeral(server: FixtureServer) -> None:
    host, port = server.address
    assert host == "127.0.0.1" and port > 0
    assert server.base_url == f"http://127.0.0.1:{port}"


def test_normal_download_and_head(server: FixtureServer, green_dec: MonthFile) -> None:
    status, headers, body = _get(server.url(green_dec.url_path))
    data = green_dec.path.read_bytes()
    assert status == 200 and body == data
    assert headers["Content-Type"] == "application/gzip"
    assert int(headers["Content-Length"]) == len(data)
    request = urllib.request.Request(server.release_url("green", 2019, 12), method="HEAD")
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200 and int(resp.headers["Content-Length"]) == len(data) and resp.read() == b""
    assert server.requests == [("GET", green_dec.url_path, 200), ("HEAD", green_dec.url_path, 200)]


def test_missing_file_is_404_once(server: FixtureServer) -> None:
    path = "/green/green_tripdata_2030-01.csv.gz"
    with pytest.raises(urllib.error.HTTPError) as err:
        _get(server.url(path))
    assert err.value.code == 404
    assert server.count(path, status=404) == 1
    conn = http.client.HTTPConnection(*server.address, timeout=5)
    conn.request("GET", "/../../etc/passwd")  # no escaping the root
    assert conn.getresponse().status == 404
    conn.close()


def test_status_faults_consumed_in_order(server: FixtureServer, green_dec: MonthFile) -> None:
    path = green_dec.url_path
    server.add_faults(path, Fault.status(500), Fault.status(503), Fault.status(404))
    for code in (500, 503, 404):
        with pytest.raises(urllib.error.HTTPError) as err:
            _get(server.url(path))
        assert err.value.code == code
    assert _get(server.url(path))[2] == green_dec.path.read_bytes()
    assert server.pending_faults(path) == []
    assert [r.status for r in server.requests] == [500, 503, 404, 200]


def test_faults_only_for_get(server: FixtureServer, green_dec: MonthFile) -> None:
    server.add_faults(green_dec.url_path, Fault.status(503), method="GET")
    head = urllib.request.Request(server.url(green_dec.url_path), method="HEAD")
    with urllib.request.urlopen(head, timeout=5) as resp:
        assert resp.status == 200
    with pytest.raises(urllib.error.HTTPError):
        _get(server.url(green_dec.url_path))


def test_reset_after(server: FixtureServer, green_dec: MonthFile, capfd: pytest.CaptureFixture[str]) -> None:
    server.add_faults(green_dec.url_path, Fault.reset_after(1_000))
    conn = http.client.HTTPConnection(*server.address, timeout=5)
    conn.request("GET", green_dec.url_path)
    resp = conn.getresponse()
    assert resp.status == 200 and int(resp.headers["Content-Length"]) == green_dec.gz_bytes
    with pytest.raises((http.client.IncompleteRead, ConnectionResetError)) as err:
        resp.read()
    conn.close()
    if isinstance(err.value, http.client.IncompleteRead):
        assert len(err.value.partial) <= 1_000
    assert _get(server.url(green_dec.url_path))[2] == green_dec.path.read_bytes()
    assert capfd.readouterr().err == ""


def test_stall_triggers_client_timeout_fast(server: FixtureServer, green_dec: MonthFile) -> None:
    server.add_faults(green_dec.url_path, Fault.stall(5, after_bytes=100))
    began = time.monotonic()
    with urllib.request.urlopen(server.url(green_dec.url_path), timeout=0.5) as resp:
        assert resp.status == 200
        with pytest.raises(TimeoutError):
            resp.read()
    assert time.monotonic() - began < 2.5
    stopping = time.monotonic()
    server.stop()  # the stalled handler must not hold stop() up
    assert time.monotonic() - stopping < 2


def test_short_stall_then_full_body(server: FixtureServer, green_dec: MonthFile) -> None:
    server.add_faults(green_dec.url_path, Fault.stall(0.3, after_bytes=100))
    began = time.monotonic()
    assert _get(server.url(green_dec.url_path), timeout=5)[2] == green_dec.path.read_bytes()
    assert time.monotonic() - began >= 0.25


def test_html_instead_of_gzip(server: FixtureServer, green_dec: MonthFile) -> None:
    server.add_faults(green_dec.url_path, Fault.html())
    status, headers, body = _get(server.url(green_dec.url_path))
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert body.startswith(b"<!DOCTYPE html>")


def test_truncate(server: FixtureServer, green_dec: MonthFile) -> None:
    server.add_faults(green_dec.url_path, Fault.truncate(500))
    status, headers, body = _get(server.url(green_dec.url_path))
    assert status == 200 and headers["Content-Length"] == "500"
    assert body == green_dec.path.read_bytes()[:500]
    with pytest.raises((EOFError, zlib.error)):
        gzip.decompress(body)


def test_mixed_faults_then_normal(server: FixtureServer, green_dec: MonthFile) -> None:
    path = green_dec.url_path
    server.add_faults(path, Fault.status(503), Fault.truncate(10), Fault.html())
    with pytest.raises(urllib.error.HTTPError):
        _get(server.url(path))
    assert len(_get(server.url(path))[2]) == 10
    assert _get(server.url(path))[1]["Content-Type"].startswith("text/html")
    assert _get(server.url(path))[2] == green_dec.path.read_bytes()
    assert server.count(path) == 4 and server.count(path, status=503) == 1


# --- the fault proxy (tests/support/fault_proxy.py) ----------------------------------------------


def test_fault_proxy_plays_each_fault_at_its_rate(server: FixtureServer, green_dec: MonthFile) -> None:
    from tests.support.fault_proxy import FaultProxy

    whole = green_dec.path.read_bytes()
    seen: Counter[str] = Counter()
    with FaultProxy(server.base_url, reset=0.2, unavailable=0.1, truncate=0.1, seed=3) as proxy:
        host, port = urllib.parse.urlsplit(proxy.base_url).hostname, urllib.parse.urlsplit(proxy.base_url).port
        for _ in range(200):
            conn = http.client.HTTPConnection(host, port, timeout=5)
            conn.request("GET", green_dec.url_path)
            resp = conn.getresponse()
            try:
                body = resp.read()
            except (http.client.IncompleteRead, ConnectionResetError):
                seen["reset"] += 1
            else:
                if resp.status == 503:
                    seen["unavailable"] += 1
                elif body == whole:
                    seen["passed"] += 1
                else:  # a truncated body whose Content-Length agrees: only gzip can tell
                    assert resp.status == 200 and len(body) == int(resp.headers["Content-Length"]) < len(whole)
                    assert whole.startswith(body)
                    with pytest.raises(EOFError):
                        gzip.decompress(body)
                    seen["truncate"] += 1
            finally:
                conn.close()
        assert seen == proxy.counts  # what the client saw is what the proxy says it played
    # The deck of 20 makes the rates exact over every 20 requests.
    assert seen == {"reset": 40, "unavailable": 20, "truncate": 20, "passed": 120}, seen
