"""Peer throughput for `npm run bench` (driven by bench/peers.ts): CloudVolume and TensorStore
writing precomputed volumes to local disk.

Job (stdin, JSON):
  {"dir": "/abs/tmp", "repeat": 3, "threads": null | n,
   "peers": ["cloudvolume", "tensorstore"],
   "tasks": [{"name", "kind": "cseg" | "jpeg" | "shard", "npy": data (x, y, z, c) Fortran,
              "chunk": [x, y, z], "encoding": ..., "block_size"?: [..], "jpeg_quality"?: n,
              "sharding"?: {...}}]}
Answer (stdout, JSON): {"versions": {...}, "results": {peer: {task: {...}}}} where a task result is
  {"seconds": best wall time, "all_seconds": [...], "mb_per_second": raw voxel MB / best seconds,
   "raw_bytes", "stored_bytes", "files", and for CloudVolume cseg/jpeg
   "codec_mb_per_second": the codec alone over the same chunks, in memory}
or {"error": "..."}.

Each run writes a fresh volume (info + every chunk, or every shard) and is timed from opening the
volume to the last byte on disk. Unsharded chunks are stored without transfer gzip (CloudVolume
compress=False; TensorStore never gzips unsharded chunks) so the figures are the codec plus file
I/O; sharded runs use the spec's `data_encoding` (gzip for raw), inside the shard, for both.
CloudVolume runs in this process (parallel=1), writing sharded scales one whole shard per upload
as igneous does; TensorStore uses its own thread pools (all cores unless "threads" is set) and
one transaction, so each shard file is written once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from importlib.metadata import version

import numpy as np


def info_for(task: dict, data: np.ndarray) -> dict:
    sx, sy, sz, nc = data.shape
    scale = {
        "key": "1_1_1",
        "size": [sx, sy, sz],
        "voxel_offset": [0, 0, 0],
        "resolution": [1, 1, 1],
        "chunk_sizes": [task["chunk"]],
        "encoding": task["encoding"],
    }
    if task.get("block_size"):
        scale["compressed_segmentation_block_size"] = task["block_size"]
    if task.get("jpeg_quality") is not None:
        scale["jpeg_quality"] = task["jpeg_quality"]
    if task.get("sharding"):
        scale["sharding"] = task["sharding"]
    return {
        "@type": "neuroglancer_multiscale_volume",
        "type": "segmentation" if task["encoding"] == "compressed_segmentation" else "image",
        "data_type": str(data.dtype),
        "num_channels": nc,
        "scales": [scale],
    }


def disk_usage(path: str) -> tuple[int, int]:
    total = files = 0
    for root, _, names in os.walk(path):
        for n in names:
            if n == "info" or n == "provenance":
                continue
            total += os.path.getsize(os.path.join(root, n))
            files += 1
    return total, files


def chunk_boxes(shape, chunk):
    for z in range(0, shape[2], chunk[2]):
        for y in range(0, shape[1], chunk[1]):
            for x in range(0, shape[0], chunk[0]):
                yield (
                    slice(x, min(x + chunk[0], shape[0])),
                    slice(y, min(y + chunk[1], shape[1])),
                    slice(z, min(z + chunk[2], shape[2])),
                )


# ---- CloudVolume ----


def cv_write(path: str, info: dict, data: np.ndarray) -> None:
    from cloudvolume import CloudVolume
    from cloudvolume.datasource.precomputed.sharding import image_shard_shape_from_spec

    vol = CloudVolume(
        "file://" + path, info=info, mip=0, progress=False, parallel=1, compress=False
    )
    vol.commit_info()
    s = info["scales"][0]
    if "sharding" not in s:
        vol[:, :, :] = data
        return
    shape = [int(v) for v in image_shard_shape_from_spec(s["sharding"], s["size"], s["chunk_sizes"][0])]
    for box in chunk_boxes(data.shape, shape):
        vol[box] = data[box]


def cv_codec_only(task: dict, data: np.ndarray) -> float:
    from cloudvolume import chunks

    params = {"level": task.get("jpeg_quality")} if task["encoding"] == "jpeg" else {}
    t0 = time.perf_counter()
    for box in chunk_boxes(data.shape, task["chunk"]):
        chunks.encode(
            data[box], task["encoding"], block_size=task.get("block_size"), compression_params=params
        )
    return time.perf_counter() - t0


# ---- TensorStore ----


def ts_write(path: str, info: dict, data: np.ndarray, threads: int | None) -> None:
    import tensorstore as ts

    s = info["scales"][0]
    scale = {
        "key": s["key"],
        "size": s["size"],
        "voxel_offset": s["voxel_offset"],
        "chunk_size": s["chunk_sizes"][0],
        "resolution": s["resolution"],
        "encoding": s["encoding"],
    }
    for k in ("compressed_segmentation_block_size", "sharding", "jpeg_quality"):
        if k in s:
            scale[k] = s[k]
    spec = {
        "driver": "neuroglancer_precomputed",
        "kvstore": {"driver": "file", "path": path + "/"},
        "multiscale_metadata": {
            "type": info["type"],
            "data_type": info["data_type"],
            "num_channels": info["num_channels"],
        },
        "scale_metadata": scale,
        "create": True,
        "delete_existing": True,
    }
    if threads:
        spec["context"] = {
            "data_copy_concurrency": {"limit": threads},
            "file_io_concurrency": {"limit": threads},
        }
    store = ts.open(spec).result()
    with ts.Transaction() as txn:
        store.with_transaction(txn).write(data).result()


def run_task(peer: str, task: dict, job: dict) -> dict:
    data = np.asfortranarray(np.load(task["npy"]))
    if data.ndim == 3:
        data = data[..., np.newaxis]
    info = info_for(task, data)
    times = []
    stored = files = 0
    for i in range(job.get("repeat", 3)):
        path = os.path.join(job["dir"], f"{peer}-{task['name']}-{i}")
        shutil.rmtree(path, ignore_errors=True)
        t0 = time.perf_counter()
        if peer == "cloudvolume":
            cv_write(path, info, data)
        else:
            ts_write(path, info, data, job.get("threads"))
        times.append(time.perf_counter() - t0)
        stored, files = disk_usage(path)
        shutil.rmtree(path, ignore_errors=True)
    best = min(times)
    out = {
        "seconds": round(best, 4),
        "all_seconds": [round(t, 4) for t in times],
        "raw_bytes": int(data.nbytes),
        "mb_per_second": round(data.nbytes / 1e6 / best, 2),
        "stored_bytes": stored,
        "files": files,
    }
    if peer == "cloudvolume" and task["kind"] in ("cseg", "jpeg"):
        codec = min(cv_codec_only(task, data) for _ in range(job.get("repeat", 3)))
        out["codec_mb_per_second"] = round(data.nbytes / 1e6 / codec, 2)
    return out


def main() -> None:
    job = json.load(sys.stdin)
    real_stdout = sys.stdout
    results: dict[str, dict] = {}
    with contextlib.redirect_stdout(sys.stderr):
        for peer in job.get("peers", ["cloudvolume", "tensorstore"]):
            results[peer] = {}
            for task in job["tasks"]:
                try:
                    results[peer][task["name"]] = run_task(peer, task, job)
                except Exception as e:  # noqa: BLE001 - reported per task
                    results[peer][task["name"]] = {"error": f"{type(e).__name__}: {e}"}
    versions = {p: version(p) for p in ("cloud-volume", "tensorstore", "numpy")}
    versions["python"] = sys.version.split()[0]
    json.dump({"versions": versions, "results": results}, real_stdout)
    real_stdout.write("\n")


if __name__ == "__main__":
    main()
