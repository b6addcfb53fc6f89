"""A crash-safe, resumable JSON-lines log of an evaluation's steps and episodes.

Records are appended a batch at a time with one write, then flushed and fsync'ed, so a crash loses at most
the batch being written and never leaves a corrupt record behind: on reopening, a torn last line (no newline,
or not valid JSON) is cut off. When the run completes, the file is rewritten atomically in canonical order
(by episode, then step), so an interrupted-and-resumed run ends with the same bytes as an uninterrupted one.

Model answers are logged losslessly: text UTF-8 cannot hold (lone surrogates, which a JSON answer such as
`"\\ud800"` decodes to) is written as JSON `\\uXXXX` escapes, which read back to the same string.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable

from envs.errors import DataFileError
from envs.sft_records import atomic_write_text


_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(record: dict[str, Any]) -> str:
    """One JSON line, UTF-8-encodable whatever the strings hold (a surrogate only occurs inside a string, where
    its `\\uXXXX` escape is valid JSON)."""
    text = json.dumps(record, sort_keys=True, ensure_ascii=False)
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def canonical_key(record: dict[str, Any]) -> tuple[int, int, int]:
    """Episode, then its steps in order, then the episode's closing record."""
    if record.get("type") == "episode":
        return (int(record["episode"]), 1, 0)
    return (int(record["episode"]), 0, int(record["step"]))


class StepLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> list[dict[str, Any]]:
        """Every complete record; cuts a torn last line off the file. A corrupt earlier line is an error."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        tail = lines.pop()  # bytes after the last newline: empty, or a torn write
        records: list[dict[str, Any]] = []
        good_bytes = 0
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or "episode" not in record:
                    raise ValueError("not a log record")
            except ValueError:
                if number == len(lines) and not tail:
                    self._truncate(good_bytes)  # a torn final record that happened to end in a newline
                    return records
                raise DataFileError(f"{self.path}:{number}: corrupt log record; move the file away to start "
                                    "over") from None
            records.append(record)
            good_bytes += len(line) + 1
        if tail:
            self._truncate(good_bytes)
        return records

    def _truncate(self, size: int) -> None:
        with open(self.path, "r+b") as handle:
            handle.truncate(size)
            handle.flush()
            os.fsync(handle.fileno())

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        text = "".join(dumps(record) + "\n" for record in records)
        if not text:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    def canonicalize(self) -> list[dict[str, Any]]:
        """Rewrite the file sorted by (episode, step), atomically; return the records in that order."""
        records = sorted(self.load(), key=canonical_key)
        atomic_write_text(self.path, "".join(dumps(record) + "\n" for record in records))
        return records
