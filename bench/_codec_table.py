"""The compression plugin's codecs on one document: ratio and CPU cost per response.

Measured in the runner's own process, after the load runs (nothing else of the suite is
running then), with the codecs the plugin builds from an empty ``[plugins.compression]``
section, that is at its default levels. The document is the identity body of the showcase's
``GET /big`` as Areion sent it (decoded from the ``big-br`` scenario's last answer). CPU
time is ``time.process_time`` over as many whole-body compressions as fit in the budget.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from areion_compression import Codec

#: The order of the table: the plugin's default server preference.
CODEC_ORDER = ("br", "zstd", "gzip")
_LABELS = {"br": "brotli", "zstd": "zstd", "gzip": "gzip"}


@dataclass(frozen=True)
class CodecFigure:
    """One codec on the document, or why it was not measured."""

    name: str
    setting: str
    original: int
    compressed: int = 0
    iterations: int = 0
    cpu_s: float = 0.0
    error: str | None = None

    @property
    def ratio(self) -> float:
        return self.original / self.compressed if self.compressed else 0.0

    @property
    def cpu_us(self) -> float:
        """CPU microseconds per compressed response."""
        return self.cpu_s / self.iterations * 1e6 if self.iterations else 0.0

    @property
    def per_cpu_second(self) -> float:
        return self.iterations / self.cpu_s if self.cpu_s else 0.0


def _defaults() -> tuple[Mapping[str, Codec], dict[str, str]]:
    """The plugin's codecs at its defaults, and how each is set ("quality 4", …)."""
    from areion_compression import CompressionSettings

    settings = CompressionSettings.from_config({})
    setting = {
        "br": f"quality {settings.brotli_quality}",
        "zstd": f"level {settings.zstd_level}",
        "gzip": f"level {settings.gzip_level}",
    }
    return settings.codecs, setting


def measure_codecs(document: bytes, budget_s: float) -> list[CodecFigure]:
    """Compress ``document`` with each default codec for about ``budget_s`` CPU seconds."""
    try:
        codecs, settings = _defaults()
    except Exception as error:  # the table says why, the run goes on
        reason = f"{type(error).__name__}: {error}"
        return [CodecFigure(_LABELS[n], "–", len(document), error=reason) for n in CODEC_ORDER]
    figures = []
    for name in CODEC_ORDER:
        codec = codecs.get(name)
        label = _LABELS[name]
        if codec is None:
            reason = "not enabled" + (" (needs the zstandard package)" if name == "zstd" else "")
            figures.append(CodecFigure(label, settings[name], len(document), error=reason))
            continue
        compress = codec.compress
        compressed = len(compress(document))  # also the warm-up
        iterations, batch = 0, 5
        start = time.process_time()
        while True:
            for _ in range(batch):
                compress(document)
            iterations += batch
            elapsed = time.process_time() - start
            if elapsed >= budget_s:
                break
        figure = CodecFigure(label, settings[name], len(document), compressed, iterations, elapsed)
        figures.append(figure)
    return figures
