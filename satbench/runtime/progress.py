"""What a run says while it trains (rank 0 only): a progress bar on a terminal, otherwise one log line every
``--log-every`` epochs (and at the last), which a cluster's log file can hold: no carriage-return frames.

A log line: ``epoch 12/60: loss 0.6931, train 0.8125, val 0.7900, test 0.7750, 0.042 s, comm 1.23 MB`` (scores
where the epoch was evaluated; the epoch's time, that of the slowest worker; the bytes all workers sent for the
method, in MB of 10^6 bytes).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable

from ..config import RunConfig
from ..record import summarize

log = logging.getLogger("satbench")


def epoch_line(row: dict[str, Any], epochs: int) -> str:
    scores = "".join(f", {split} {row[split]:.4f}" if row[split] is not None else f", {split} -"
                     for split in ("train", "val", "test")) if row["val"] is not None else ""
    return (f"epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f}{scores}, {row['epoch_time_s']:.3f} s, "
            f"comm {row['comm_bytes'] / 1e6:.2f} MB")


def epoch_reporter(config: RunConfig, world_size: int, stream=None) -> tuple[Callable[[list[dict]], None], Callable]:
    """``(on_epoch, close)`` for rank 0: a bar if ``--no-progress`` is not given and ``stream`` (stderr) is a
    terminal, else log lines."""
    stream = stream if stream is not None else sys.stderr
    if config.progress and stream.isatty():
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs, desc=f"{config.method} w{world_size} {config.dataset}", unit="epoch",
                   file=stream, dynamic_ncols=True)

        def advance(rows: list[dict]) -> None:
            bar.update(rows[-1]["epoch"] - bar.n)  # a resumed run starts at its checkpoint's epoch
            best = summarize(rows)["best_val"]
            bar.set_postfix(loss=f"{rows[-1]['loss']:.4f}", best_val="-" if best is None else f"{best:.4f}")

        return advance, bar.close

    def write(rows: list[dict]) -> None:
        epoch = rows[-1]["epoch"]
        if epoch % config.log_every == 0 or epoch == config.epochs:
            log.info("%s", epoch_line(rows[-1], config.epochs))

    return write, lambda: None
