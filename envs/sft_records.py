"""SFT records and the two on-disk layouts `gen-data` writes.

- `llava`: the published SFT layout, one JSON list of `{"id", "image"?, "conversations": [{"from": "human",
  "value"}, {"from": "gpt", "value"}, ...]}`; the first human turn of an image record starts with "<image>\\n".
- `messages`: JSON lines as TRL and HF datasets use, `{"id", "messages": [{"role", "content"}], "images"?}`,
  where an image record's first user turn carries a `{"type": "image"}` content block.

Image paths are relative to the data file. Files are written atomically, so an interrupted run never leaves
a data file that looks complete, with the permissions a plain `open(path, "w")` would give (the umask's for a
new file, the old file's when replacing one).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

DataFormat = Literal["llava", "messages"]
DATA_FILES: dict[str, str] = {"llava": "data.json", "messages": "data.jsonl"}
IMAGE_TOKEN = "<image>"


@dataclass
class SFTRecord:
    """One conversation: alternating user/assistant turns starting with the user, and an optional image."""

    id: str
    turns: list[tuple[str, str]] = field(default_factory=list)
    image: str | None = None

    def add(self, role: str, text: str) -> "SFTRecord":
        self.turns.append((role, text))
        return self


def to_llava(record: SFTRecord) -> dict[str, Any]:
    conversations = []
    for index, (role, text) in enumerate(record.turns):
        if index == 0 and record.image is not None:
            text = f"{IMAGE_TOKEN}\n{text}"
        conversations.append({"from": "human" if role == "user" else "gpt", "value": text})
    result: dict[str, Any] = {"id": record.id}
    if record.image is not None:
        result["image"] = record.image
    result["conversations"] = conversations
    return result


def to_messages(record: SFTRecord) -> dict[str, Any]:
    messages = []
    for index, (role, text) in enumerate(record.turns):
        if record.image is not None:
            content: Any = [{"type": "text", "text": text}]
            if index == 0:
                content.insert(0, {"type": "image"})
        else:
            content = text
        messages.append({"role": role, "content": content})
    result: dict[str, Any] = {"id": record.id, "messages": messages}
    if record.image is not None:
        result["images"] = [record.image]
    return result


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (changing it is not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_mode(path: Path, directory: bool = False) -> int:
    """The mode a plain `open()` (or `mkdir()`) would leave `path` with: its current one if it exists."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return (0o777 if directory else 0o666) & ~current_umask()


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = default_mode(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)  # mkstemp creates files 0600
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_records(records: Iterable[SFTRecord], out_dir: Path, data_format: DataFormat) -> Path:
    """Write the data file of `data_format` into `out_dir`; return its path."""
    path = Path(out_dir) / DATA_FILES[data_format]
    if data_format == "llava":
        text = json.dumps([to_llava(r) for r in records], ensure_ascii=False, indent=1) + "\n"
    else:
        text = "".join(json.dumps(to_messages(r), ensure_ascii=False) + "\n" for r in records)
    atomic_write_text(path, text)
    return path
