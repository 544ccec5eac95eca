"""Where each month's file is published: the two sources, mirrors, their layouts and windows.

* ``dtc`` (the default; course-compatible): the DataTalksClub csv.gz backup on GitHub releases,
  ``<base>/<type>/<type>_tripdata_YYYY-MM.csv.gz``. The release URL answers with a 302 to a
  short-lived signed URL, so every attempt starts again from the release URL (it is what a run
  keeps).
* ``tlc``: the official NYC TLC parquet files, ``<base>/<type>_tripdata_YYYY-MM.parquet``, up to
  the latest published month (open-ended: the TLC publishes each month about two months late).
* A mirror: any other value, a directory or an ``http(s)://``/``file://`` URL, in either layout;
  the layout found for a month tells its format (the dtc layout is looked for first).

Counts differ slightly between the sources (yellow 2020: 24,648,499 rows in the csv backup,
24,649,092 in the TLC parquet files): course homework keeps ``dtc``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TypedDict
from urllib.parse import unquote, urlparse

from taxi_pipeline.extract.errors import SourceError, unreachable
from taxi_pipeline.months import Month, ParamError, Window
from taxi_pipeline.specs import TaxiSpec


class LocatedFile(TypedDict):
    """A month's file as found at its source: what load_staging / upload_to_gcs read."""

    url: str
    format: str  # "csv.gz" or "parquet"


@dataclass(frozen=True)
class Layout:
    name: str
    format: str

    def path(self, spec: TaxiSpec, month: Month) -> str:
        """The month's file under a base: the course's filename, gzipped in a folder, or as parquet."""
        csv_name = spec.filename(month.year, month.month)
        return f"{spec.taxi}/{csv_name}.gz" if self.format == "csv.gz" else csv_name.removesuffix(".csv") + ".parquet"


DTC_LAYOUT = Layout("dtc", "csv.gz")
TLC_LAYOUT = Layout("tlc", "parquet")

@dataclass(frozen=True)
class Release:
    """A source of monthly files: a name, a base and the layouts a month may be found in. The
    months it publishes per type are the specs' data (``TaxiSpec.published``)."""

    name: str  # "dtc", "tlc" or "mirror"
    base: str
    layouts: tuple[Layout, ...]

    def published(self, spec: TaxiSpec) -> tuple[Month, Month | None]:
        """(first, last or None: open) -- a mirror may hold either source's months: both spans."""
        spans = [spec.published[n] for n in (NAMED if self.name == "mirror" else (self.name,)) if n in spec.published]
        if not spans:
            raise ParamError(f"source {self.name}: publishes no {spec.taxi} files")
        lasts = [last for _, last in spans]
        return (min(Month.parse(first) for first, _ in spans),
                None if None in lasts else max(Month.parse(last) for last in lasts))

    def window(self, spec: TaxiSpec, today: datetime | None = None) -> Window:
        """The months this source publishes for ``spec`` (an open end stops at the current month)."""
        first, last = self.published(spec)
        return Window(first, last or Month.of(today or datetime.now(timezone.utc)))

    def why_outside(self, spec: TaxiSpec) -> str:
        return spec.refused if self.name != "mirror" else ""

    def candidates(self, spec: TaxiSpec, month: Month) -> list[LocatedFile]:
        base = self.base.rstrip("/")
        return [LocatedFile(url=f"{base}/{layout.path(spec, month)}", format=layout.format) for layout in self.layouts]


DTC = Release("dtc", "https://github.com/DataTalksClub/nyc-tlc-data/releases/download", (DTC_LAYOUT,))
TLC = Release("tlc", "https://d37ci6vzurychx.cloudfront.net/trip-data", (TLC_LAYOUT,))
NAMED = {"dtc": DTC, "tlc": TLC}


def local_path(url: str) -> Path:
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(url)


def public_url(url: str) -> str:
    """``url`` without credentials (user:password@, a query's signature): what the audit may record."""
    parsed = urlparse(url)
    if not parsed.scheme or parsed.scheme == "file":
        return url
    host = parsed.hostname or ""
    netloc = f"{host}:{parsed.port}" if parsed.port else host
    return parsed._replace(netloc=netloc, query="", fragment="").geturl()


def release(value: str, *, setting: str) -> Release:
    """The source a setting or param names: ``dtc``, ``tlc``, or a mirror base (checked: scheme,
    existing directory); ``setting`` is named in the error."""
    value = (value or "").strip()
    if value.lower() in NAMED:
        return NAMED[value.lower()]
    scheme = urlparse(value).scheme
    if scheme not in ("http", "https"):
        if scheme not in ("", "file"):
            raise ParamError(
                f"{setting}: unsupported scheme {scheme!r} in {value!r}; use dtc, tlc, https://, http://, file:// or a directory"
            )
        if not value or not local_path(value).is_dir():
            raise ParamError(f"{setting}: directory {local_path(value)} does not exist")
    return Release("mirror", value, (DTC_LAYOUT, TLC_LAYOUT))


def locate(candidates: list[LocatedFile], label: str, read_timeout: float) -> LocatedFile | None:
    """The first candidate that exists now (a file, or an HTTP 200 after redirects), else None.

    A 404 or a missing file means "not published yet"; a 5xx or a network error raises
    :class:`SourceError` (the poke fails and is retried).
    """
    for candidate in candidates:
        if urlparse(candidate["url"]).scheme in ("http", "https"):
            if _http_exists(candidate["url"], label, read_timeout):
                return candidate
        elif local_path(candidate["url"]).is_file():
            return candidate
    return None


def _http_exists(url: str, label: str, read_timeout: float) -> bool:
    """HEAD (following redirects); a 403/405 is asked again with a GET whose body is never read: the
    release's redirect target is a URL signed for GET, and S3/CloudFront answer 403 for a missing file."""
    import requests

    try:
        response = requests.head(url, allow_redirects=True, timeout=(15, read_timeout))
        if response.status_code in (403, 405):
            with requests.get(url, stream=True, allow_redirects=True, timeout=(15, read_timeout)) as response:
                pass
    except requests.RequestException as exc:
        raise SourceError(f"{label}: {unreachable(url, exc)} for {url}") from exc
    if response.status_code in (403, 404):
        return False
    if response.status_code != 200:
        raise SourceError(f"{label}: HTTP {response.status_code} from {url} while looking for the file")
    return True
