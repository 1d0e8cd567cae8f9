"""Pictures of the offline report for the documentation (`crossings report --png`): the HTML
opened in headless Chromium with the network cut off, screenshot at the page's width and a tall
window, then cropped below the last row that is not background."""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import numpy as np

from grafana.report import PAGE_WIDTH

# no name resolves and every proxied request goes to a closed port: nothing can load from a network
NO_NETWORK = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]
WINDOW_WIDTH = PAGE_WIDTH + 80  # the page and its margins
WINDOW_HEIGHT = 8000  # taller than any board; cropped afterwards
MARGIN = 24  # px of background kept below the content


class PictureError(RuntimeError):
    """Chromium is missing or failed."""


def screenshot(html: Path, png: Path, *, timeout_s: float = 120) -> Path:
    """`png`: a picture of the page `html`, cropped to its content."""
    chromium = shutil.which("chromium")
    if chromium is None:
        raise PictureError("Debian's chromium is not installed (apt-get install chromium): it takes the picture")
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="crossings-chromium-") as profile:
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}", *NO_NETWORK,
            f"--screenshot={png.resolve()}", f"--window-size={WINDOW_WIDTH},{WINDOW_HEIGHT}", "--hide-scrollbars",
            html.resolve().as_uri(),
        ]  # fmt: skip
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            _, err = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired as error:
            raise PictureError(f"chromium took longer than {timeout_s:.0f} s") from error
        finally:  # its renderer and GPU processes too
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
    if process.returncode != 0 or not png.is_file():
        raise PictureError(f"chromium exited with {process.returncode}: {err[-500:]}")
    write_png(png, crop(png_pixels(png)))
    return png


def crop(pixels: np.ndarray, margin: int = MARGIN) -> np.ndarray:
    """`pixels` without the rows below the content (the colour of the bottom-left pixel) but
    `margin` of them."""
    background = pixels[-1, 0]
    content = np.flatnonzero(np.any(pixels != background, axis=(1, 2)))
    last = int(content[-1]) if content.size else 0
    return pixels[: min(len(pixels), last + 1 + margin)]


def write_png(path: Path, pixels: np.ndarray) -> None:
    """An 8-bit RGB or RGBA PNG of `pixels` (height x width x 3 or 4), every line unfiltered."""
    height, width, channels = pixels.shape
    lines = np.hstack([np.zeros((height, 1), np.uint8), pixels.reshape(height, width * channels)])

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2 if channels == 3 else 6, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(lines.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


def png_pixels(path: Path) -> np.ndarray:
    """The pixels (height x width x channels) of an 8-bit RGB(A) PNG, decoded with zlib."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    position, chunks, header = 8, [], None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"{path}: a PNG format other than 8-bit RGB(A): {header}")
    channels = 3 if colour == 2 else 4
    stride = width * channels
    lines = np.frombuffer(zlib.decompress(b"".join(chunks)), np.uint8).reshape(height, stride + 1)
    image = np.zeros((height, stride), np.uint8)
    prior = np.zeros(stride, np.uint8)
    for y in range(height):
        image[y] = prior = _unfilter(lines[y, 0], lines[y, 1:], prior, channels)
    return image.reshape(height, width, channels)


def _unfilter(kind: int, line: np.ndarray, prior: np.ndarray, channels: int) -> np.ndarray:
    """One PNG scanline without its filter (None, Sub, Up vectorised; Average, Paeth byte by byte)."""
    if kind == 0:
        return line
    if kind == 1:
        return line.reshape(-1, channels).cumsum(axis=0, dtype=np.uint8).ravel()
    if kind == 2:
        return line + prior
    out, up = bytearray(line.tobytes()), prior.tobytes()
    for i in range(len(out)):
        left = out[i - channels] if i >= channels else 0
        if kind == 3:
            out[i] = (out[i] + (left + up[i]) // 2) & 0xFF
            continue
        corner = up[i - channels] if i >= channels else 0
        estimate = left + up[i] - corner
        a, b, c = abs(estimate - left), abs(estimate - up[i]), abs(estimate - corner)
        out[i] = (out[i] + (left if a <= b and a <= c else up[i] if b <= c else corner)) & 0xFF
    return np.frombuffer(bytes(out), np.uint8)
