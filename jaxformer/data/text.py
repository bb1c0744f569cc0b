"""Reading text the way every input path needs it: UTF-8 or a one-line error naming the line."""

from __future__ import annotations

from typing import Any

from jaxformer.config import ConfigError


def feature_text(value: Any) -> str:
    """A tfds text feature (bytes from array_record) as str."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def decode_lines(data: bytes, name: str) -> list[str]:
    """The lines of UTF-8 `data` (a final newline does not make an empty last line; CR stripped)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(f"{name} line {line} is not valid UTF-8 (byte 0x{data[e.start]:02x}); "
                          "convert it, e.g. iconv -f latin1 -t utf-8") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]
