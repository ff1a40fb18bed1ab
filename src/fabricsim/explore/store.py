"""Sweep results as a Parquet dataset: one part file per batch of points, each written atomically.

``<out>/part-<first index>-<random>.parquet`` holds the rows of one batch; a rerun reads the keys of
every part and skips those points, so a sweep killed at any moment (even SIGKILL) loses at most the
points in flight.  The folder opens directly in pandas (``pd.read_parquet(out)``), polars or DuckDB.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fabricsim.errors import FabricsimError

SWEEP_FILE = "_sweep.yaml"  # leading underscore: Parquet readers skip it


def prepare(out: Path) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FabricsimError(f"--out {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FabricsimError(f"--out {out}: cannot create the folder ({exc.strerror})") from None
    if not os.access(out, os.W_OK):
        raise FabricsimError(f"--out {out}: the folder is not writable")
    return out


def done_keys(out: Path) -> set[str]:
    """Keys of the points already stored (unreadable leftovers of a crash are ignored)."""
    keys: set[str] = set()
    for part in sorted(Path(out).glob("part-*.parquet")):
        try:
            keys.update(pq.read_table(part, columns=["key"]).column("key").to_pylist())
        except (pa.ArrowInvalid, OSError):
            continue
    return keys


def write_part(out: Path, rows: list[dict]) -> Path:
    """Write one batch of rows as a part file: to a hidden temporary name, then renamed into place."""
    if not rows:
        return None
    table = pa.Table.from_pylist(rows)
    name = f"part-{rows[0]['index']:08d}-{secrets.token_hex(4)}.parquet"
    tmp = Path(out) / f".{name}.tmp"
    pq.write_table(table, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, Path(out) / name)
    return Path(out) / name


def read_results(out: Path) -> pa.Table:
    parts = sorted(Path(out).glob("part-*.parquet"))
    if not parts:
        raise FabricsimError(f"{out}: no sweep results (part-*.parquet) in this folder")
    tables = [pq.read_table(p) for p in parts]
    return pa.concat_tables(tables, promote_options="permissive")
