"""How DuckDB reads a landed reference file (CPV, COG, SIRENE): every column as text."""

from __future__ import annotations

import shutil
from pathlib import Path

from observatoire.sqlquote import literal
from observatoire.staging.detect import Detected
from observatoire.staging.streams import open_bytes


def readable_copy(path: Path, det: Detected, work_dir: Path) -> Path:
    """``path`` itself when DuckDB can read it, else a UTF-8 copy in ``work_dir``.

    The landed file stays unchanged; DuckDB reads only UTF-8 CSV reliably (its latin-1 mode
    refuses Windows-1252 characters such as ’ or €), so other encodings are converted on the fly.
    """
    if det.format.endswith("parquet") or det.encoding == "utf-8":
        return path
    work_dir.mkdir(parents=True, exist_ok=True)
    copy = work_dir / f"{path.name}.utf8.csv"
    if not copy.exists():
        tmp = copy.with_suffix(".tmp")
        with open_bytes(path, det.encoding, errors="replace") as src, tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        tmp.replace(copy)
    return copy


def reference_relation(path: Path, det: Detected) -> str:
    """A DuckDB table function call over ``path`` (UTF-8 or Parquet); quoted here."""
    if det.format.endswith("parquet"):
        return f"read_parquet({literal(path)})"
    return (
        f"read_csv({literal(path)}, header=true, all_varchar=true, "
        f"delim={literal(det.delimiter)}, "
        "quote='\"', escape='\"', encoding='utf-8')"
    )
