"""SFT data: read and check either layout `gen-data` writes, before any training starts.

Accepted inputs: a folder holding `data.json` (LLaVA conversations) or `data.jsonl` (`messages`), or such a
file itself (`.json` with a list of records, `.jsonl` with one record a line, either layout per record).

- LLaVA: `{"id", "image"?: str | [str], "conversations": [{"from": "human"|"gpt"|"system", "value"}]}`;
  `<image>` in a human turn marks where an image goes (a record with an image but no marker gets it at the
  start of its first human turn, as LLaVA does).
- messages: `{"id"?, "messages": [{"role", "content": str | [{"type": "image"|"text", ...}]}], "images"?}`.

Every problem (malformed JSON, an empty file, unknown roles, no assistant turn, a missing or unreadable image,
a mismatch between image markers and images) raises `SFTDataError` naming the file and the record. Relative
image paths start from the data file's folder, or from `image_folder` when one is given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envs.errors import DataFileError

IMAGE_MARKER = "<image>"
_LLAVA_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
_ROLES = ("system", "user", "assistant")


class SFTDataError(DataFileError):
    """Bad SFT data; the message names the file and the record."""


@dataclass
class SFTExample:
    id: str
    messages: list[dict[str, Any]]
    images: list[Path] = field(default_factory=list)


def find_data_file(data: str | Path) -> Path:
    """The data file of a gen-data folder, a published SFT data name (`sft-gp-l`, see `sftvsrl download`),
    a folder holding exactly one JSON/JSONL file (as the published SFT data), or a file."""
    from trainers.hub import resolve_sft_data_reference

    path = Path(resolve_sft_data_reference(str(data))).expanduser()
    if path.is_dir():
        candidates = [path / "data.json", path / "data.jsonl"]
        found = [c for c in candidates if c.is_file()]
        if not found:
            others = sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl") and p.name != "meta.json")
            found = others if len(others) == 1 else []
        if not found:
            raise FileNotFoundError(f"no data.json or data.jsonl in {path} (write one with `sftvsrl gen-data`)")
        if len(found) > 1:
            raise SFTDataError(f"{path} holds both data.json and data.jsonl; pass the file to use")
        return found[0]
    if not path.is_file():
        raise FileNotFoundError(f"SFT data not found: {path}")
    return path


def _read_records(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SFTDataError(f"{path}: cannot read: {error}") from None
    if not text.strip():
        raise SFTDataError(f"{path}: the file is empty")
    if path.suffix == ".jsonl":
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise SFTDataError(f"{path}: line {number}: malformed JSON ({error.msg})") from None
        return records
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SFTDataError(f"{path}: malformed JSON at line {error.lineno} column {error.colno} ({error.msg})") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise SFTDataError(f"{path}: expected a list of records, got {type(data).__name__}")
    return data


def _text_with_images(text: str, images_left: int) -> tuple[list[dict[str, Any]] | str, int]:
    """Split LLaVA text at `<image>` markers into content blocks; returns blocks and markers used."""
    if IMAGE_MARKER not in text:
        return text, 0
    blocks: list[dict[str, Any]] = []
    pieces = text.split(IMAGE_MARKER)
    for index, piece in enumerate(pieces):
        if index:
            blocks.append({"type": "image"})
        piece = piece.strip("\n") if index == 0 or index == len(pieces) - 1 else piece
        if piece:
            blocks.append({"type": "text", "text": piece})
    return blocks, len(pieces) - 1


def _from_llava(record: dict[str, Any], where: str) -> tuple[list[dict[str, Any]], list[str]]:
    turns = record.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise SFTDataError(f"{where}: 'conversations' must be a non-empty list")
    image = record.get("image")
    images = [] if image is None else ([image] if isinstance(image, str) else image)
    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
        raise SFTDataError(f"{where}: 'image' must be a path or a list of paths")
    messages, markers = [], 0
    for index, turn in enumerate(turns):
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            raise SFTDataError(f"{where}: conversations[{index}] needs a string 'value'")
        role = _LLAVA_ROLES.get(str(turn.get("from")))
        if role is None:
            raise SFTDataError(f"{where}: conversations[{index}] has unknown 'from' {turn.get('from')!r}")
        content, used = _text_with_images(turn["value"], len(images) - markers)
        markers += used
        messages.append({"role": role, "content": content})
    if images and markers == 0:
        first_user = next((m for m in messages if m["role"] == "user"), None)
        if first_user is None:
            raise SFTDataError(f"{where}: an image record needs a human turn")
        first_user["content"] = [{"type": "image"}] * len(images) + [{"type": "text", "text": first_user["content"]}]
        markers = len(images)
    if markers != len(images):
        raise SFTDataError(f"{where}: {markers} <image> marker(s) but {len(images)} image(s)")
    return messages, images


def _from_messages(record: dict[str, Any], where: str) -> tuple[list[dict[str, Any]], list[str]]:
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SFTDataError(f"{where}: 'messages' must be a non-empty list")
    images = record.get("images") or []
    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
        raise SFTDataError(f"{where}: 'images' must be a list of paths")
    blocks = 0
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise SFTDataError(f"{where}: messages[{index}] needs a role among {', '.join(_ROLES)}")
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            raise SFTDataError(f"{where}: messages[{index}] content must be a string or a list of blocks")
        for block in content:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "image":
                blocks += 1
            elif kind != "text" or not isinstance(block.get("text"), str):
                raise SFTDataError(f"{where}: messages[{index}] has a bad content block {str(block)[:60]!r}")
    if blocks != len(images):
        raise SFTDataError(f"{where}: {blocks} image block(s) but {len(images)} image(s)")
    return [{"role": m["role"], "content": _plain_if_text_only(m["content"])} for m in messages], images


def _plain_if_text_only(content: Any) -> Any:
    """A block list without images as one string, so both layouts give identical conversations."""
    if isinstance(content, list) and all(block["type"] == "text" for block in content):
        return "".join(block["text"] for block in content)
    return content


def _check_image(path: Path, where: str) -> None:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise SFTDataError(f"{where}: image file not found: {path}")
    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, UnidentifiedImageError) as error:
        raise SFTDataError(f"{where}: unreadable image {path}: {error}") from None


def load_sft_data(data: str | Path, check_images: bool = True,
                  image_folder: str | Path | None = None) -> list[SFTExample]:
    """All records of an SFT data file or folder, checked; raises `SFTDataError` on the first bad one.

    Relative image paths start from `image_folder` (the published SFT script's `--image_folder`, e.g. `./`: the
    working directory), else from the data file's folder. Absolute paths are taken as they are."""
    path = find_data_file(data)
    images_base = path.parent
    if image_folder is not None:
        images_base = Path(image_folder).expanduser().resolve()
        if not images_base.is_dir():
            raise SFTDataError(f"--image-folder {image_folder}: not a folder")
    records = _read_records(path)
    if not records:
        raise SFTDataError(f"{path}: no records")
    examples = []
    for index, record in enumerate(records):
        record_id = str(record.get("id", index)) if isinstance(record, dict) else str(index)
        where = f"{path}: record {index} (id {record_id})"
        if not isinstance(record, dict):
            raise SFTDataError(f"{where}: a record must be a JSON object")
        if "conversations" in record:
            messages, images = _from_llava(record, where)
        elif "messages" in record:
            messages, images = _from_messages(record, where)
        else:
            raise SFTDataError(f"{where}: neither 'conversations' (LLaVA) nor 'messages'")
        if not any(m["role"] == "assistant" for m in messages):
            raise SFTDataError(f"{where}: the conversation has no assistant turn to learn from")
        if messages[-1]["role"] != "assistant":
            raise SFTDataError(f"{where}: the conversation must end with an assistant turn")
        image_paths = [(images_base / image).resolve() for image in images]
        if check_images:
            for image_path in image_paths:
                _check_image(image_path, where)
        examples.append(SFTExample(record_id, messages, image_paths))
    return examples
