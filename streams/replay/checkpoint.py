"""Replay checkpoints: the resolved range and, per partition, where a restart re-reads from.

One JSON file per replay, keyed by topic + pipeline version + the range arguments (so the same
command line resumes, a different one starts fresh). Written atomically (temp file + rename).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import msgspec

from streams.errors import CliError


class Range(msgspec.Struct, frozen=True):
    """One partition's offsets: read from ``lookback``, emit sessions touching [start, end)."""

    partition: int
    lookback: int
    start: int
    end: int

    @property
    def messages(self) -> int:
        return max(0, self.end - self.start)


class Checkpoint(msgspec.Struct, kw_only=True):
    key: str
    ranges: list[Range]
    resume: dict[int, int] = {}  # partition -> first offset to re-read (oldest open session)
    position: dict[int, int] = {}  # partition -> next offset the interrupted run would have read
    done: bool = False
    saved_at: float = 0.0


_decoder = msgspec.json.Decoder(Checkpoint)
_encoder = msgspec.json.Encoder()


def checkpoint_key(topic: str, version: str, *arguments: object) -> str:
    text = "\x1f".join(str(a) for a in (topic, version, *arguments))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_path(data_dir: str, topic: str, version: str, key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in f"{topic}-{version or 'unversioned'}")
    return Path(data_dir) / "replay" / f"{safe}-{key}.json"


def load(path: Path, key: str) -> Checkpoint | None:
    """The checkpoint at ``path`` for this replay, None when there is none."""
    if not path.is_file():
        return None
    try:
        checkpoint = _decoder.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError) as error:
        raise CliError("a readable replay checkpoint", f"{path}: {error}", "delete it or pass --fresh") from None
    if checkpoint.key != key:
        raise CliError(f"a checkpoint of this replay (key {key})", f"{path} holds key {checkpoint.key}",
                       "use the same arguments as the interrupted run, another --checkpoint, or --fresh")
    return checkpoint


def save(path: Path, checkpoint: Checkpoint) -> None:
    checkpoint.saved_at = time.time()
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    temp.write_bytes(_encoder.encode(checkpoint))
    os.replace(temp, path)
