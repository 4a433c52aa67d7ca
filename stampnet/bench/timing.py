"""Timing: contenders warmed up, then stepped in interleaved rounds so a changing load hits all alike."""
from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from stampnet.bench.machine import PeakMemory


def log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)



class Contender:
    """A model and a batch, timed by ``model.train_on_batch`` step by step: wall time and process CPU time
    (all threads; on a shared machine it moves less with other processes' load than wall time does)."""

    def __init__(self, name, model, batch_images):
        self.name, self.model, self.x = name, model, batch_images
        self.batch = len(batch_images)
        self.times: list[float] = []
        self.cpu: list[float] = []
        self.memory = PeakMemory()

    def warm_up(self, steps: int) -> None:
        start = time.perf_counter()
        for _ in range(steps):
            self.model.train_on_batch(self.x, self.x)
        log(f"  {self.name}: warm-up ({steps} steps, tracing included) {time.perf_counter() - start:.1f} s")

    def run(self, steps: int = 1) -> None:
        with self.memory:
            for _ in range(steps):
                start, cpu = time.perf_counter(), time.process_time()
                loss = self.model.train_on_batch(self.x, self.x)
                self.times.append(time.perf_counter() - start)
                self.cpu.append(time.process_time() - cpu)
        if not np.all(np.isfinite(loss)):
            raise FloatingPointError(f"{self.name}: loss {loss}")

    @property
    def step_s(self) -> float:
        return statistics.median(self.times)

    @property
    def img_s(self) -> float:
        return self.batch / self.step_s

    def summary(self) -> dict:
        return {"batch": self.batch, "step_s": self.step_s, "step_s_mean": statistics.fmean(self.times),
                "cpu_s": statistics.median(self.cpu), "steps": len(self.times), "img_s": self.img_s,
                "peak_mib": self.memory.peak_mib}


def interleave(fast, rounds: int, steps: int, slow=(), slow_steps: int = 1) -> None:
    """``rounds`` rounds; in each, ``steps`` times one step of every ``fast`` contender in turn (A B A B ...),
    then ``slow_steps`` steps of every ``slow`` one. Step-by-step alternation keeps a changing load from
    favouring one contender."""
    for r in range(rounds):
        for _ in range(steps):
            for c in fast:
                c.run(1)
        for c in slow:
            c.run(slow_steps)
        log(f"  round {r + 1}/{rounds}: " + ", ".join(f"{c.name} {statistics.median(c.times):.3f} s"
                                                       for c in (*fast, *slow)))


def paired_share(real: Contender, without: Contender, cpu: bool = False) -> float:
    """1 - median over back-to-back step pairs of t_without / t_real: the share of ``real``'s step that
    ``without`` lacks."""
    a, b = (real.cpu, without.cpu) if cpu else (real.times, without.times)
    return max(0.0, 1.0 - statistics.median(y / x for x, y in zip(a, b)))
