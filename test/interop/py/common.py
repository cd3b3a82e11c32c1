"""Shared plumbing for the interop helper scripts (test/interop/py/*.py).

Protocol (see test/helpers/python.ts): the job arrives as JSON on stdin; the script prints one JSON
document on stdout and nothing else (library chatter is sent to stderr). A batch job is
``{"op": "...", "cases": [{"name": ..., ...}, ...]}`` and the answer is ``{"results": {name: {"ok": true, ...}
| {"ok": false, "error": "..."}}}``: one failing case never hides the others.

Arrays travel as .npy files of shape (x, y, z, channel) in Fortran order: the byte layout of a
raw precomputed chunk and of voxport's blocks, and the axis order CloudVolume and TensorStore use.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import traceback
from typing import Any, Callable

import numpy as np


def load_npy(path: str) -> np.ndarray:
    return np.asfortranarray(np.load(path))


def save_npy(path: str, arr: Any) -> None:
    np.save(path, np.asfortranarray(np.asarray(arr)))


def scale0(info: dict) -> dict:
    return info["scales"][0]


def bounds(info: dict) -> tuple[list[int], list[int]]:
    """(min, max) of scale 0 in absolute voxel coordinates."""
    s = scale0(info)
    lo = list(s.get("voxel_offset", [0, 0, 0]))
    return lo, [lo[d] + s["size"][d] for d in range(3)]


def shard_boxes(info: dict, shard_shape: list[int]):
    """Absolute (min, max) boxes of shard-shaped, shard-aligned regions covering scale 0."""
    lo, hi = bounds(info)
    for z in range(lo[2], hi[2], shard_shape[2]):
        for y in range(lo[1], hi[1], shard_shape[1]):
            for x in range(lo[0], hi[0], shard_shape[0]):
                a = [x, y, z]
                yield a, [min(a[d] + shard_shape[d], hi[d]) for d in range(3)]


def run_batch(ops: dict[str, Callable[[dict], dict | None]]) -> None:
    """Read the job, run ``ops[job["op"]]`` on each case (timing it), print the results as JSON."""
    job = json.load(sys.stdin)
    if job.get("op") not in ops:
        raise SystemExit(f"unknown op {job.get('op')!r}; expected one of {sorted(ops)}")
    handle = ops[job["op"]]
    results: dict[str, dict] = {}
    real_stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        for case in job["cases"]:
            t0 = time.perf_counter()
            try:
                extra = handle(case) or {}
                results[case["name"]] = {"ok": True, **extra}
            except Exception as e:  # noqa: BLE001 - reported per case
                results[case["name"]] = {
                    "ok": False,
                    "error": f"{type(e).__name__}: {e}",
                    "traceback": traceback.format_exc(limit=8),
                }
            results[case["name"]]["seconds"] = round(time.perf_counter() - t0, 4)
    json.dump({"results": results}, real_stdout)
    real_stdout.write("\n")
