"""TensorStore side of the interop tests: write a volume, or read one back, through the
`neuroglancer_precomputed` driver on the `file` kvstore.

Job (stdin, JSON): {"op": "write" | "read", "cases": [case, ...]} where a case is
  write: {"name", "path": "/abs/dir", "info": {...precomputed info, one scale...}, "npy": data,
          "readback"?: .npy path for TensorStore's own decode of what it wrote (for jpeg)}
  read:  {"name", "path", "out": .npy path, "box"?: {"min": [x,y,z], "max": [x,y,z]}}
Boxes are absolute voxel coordinates of scale 0 (voxel_offset included); default: the whole scale.

The TensorStore domain is [x, y, z, channel] with inclusive_min = voxel_offset, so NumPy-style
indexing below uses absolute coordinates. Writes go through one transaction, so each shard file is
written once. TensorStore's file kvstore reads `<key>` only (never `<key>.gz`), so unsharded
volumes it reads must be stored uncompressed.
"""

import tensorstore as ts

from common import bounds, load_npy, run_batch, save_npy, scale0

# Scale fields TensorStore's `scale_metadata` accepts besides the required ones.
OPTIONAL_SCALE_KEYS = ("compressed_segmentation_block_size", "sharding", "jpeg_quality", "png_level")


def kvstore(path: str) -> dict:
    return {"driver": "file", "path": path.rstrip("/") + "/"}


def create_spec(path: str, info: dict) -> dict:
    s = scale0(info)
    scale = {
        "key": s["key"],
        "size": s["size"],
        "voxel_offset": s.get("voxel_offset", [0, 0, 0]),
        "chunk_size": s["chunk_sizes"][0],
        "resolution": s["resolution"],
        "encoding": s["encoding"],
    }
    scale.update({k: s[k] for k in OPTIONAL_SCALE_KEYS if k in s})
    return {
        "driver": "neuroglancer_precomputed",
        "kvstore": kvstore(path),
        "multiscale_metadata": {
            "type": info["type"],
            "data_type": info["data_type"],
            "num_channels": info["num_channels"],
        },
        "scale_metadata": scale,
        "create": True,
        "delete_existing": True,
    }


def open_spec(path: str) -> dict:
    return {
        "driver": "neuroglancer_precomputed",
        "kvstore": kvstore(path),
        "scale_index": 0,
        "open": True,
    }


def read_box(store: ts.TensorStore, box: dict | None):
    if box is None:
        return store.read().result()
    lo, hi = box["min"], box["max"]
    return store[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2], :].read().result()


def write(case: dict) -> dict:
    info = case["info"]
    store = ts.open(create_spec(case["path"], info)).result()
    data = load_npy(case["npy"])
    lo, hi = bounds(info)
    if list(store.domain.inclusive_min[:3]) != lo or list(store.domain.exclusive_max[:3]) != hi:
        raise ValueError(f"unexpected TensorStore domain {store.domain} for bounds {lo}..{hi}")
    with ts.Transaction() as txn:
        store.with_transaction(txn).write(data).result()
    if case.get("readback"):
        save_npy(case["readback"], read_box(ts.open(open_spec(case["path"])).result(), None))
    return {"domain": str(store.domain)}


def read(case: dict) -> dict:
    store = ts.open(open_spec(case["path"])).result()
    arr = read_box(store, case.get("box"))
    save_npy(case["out"], arr)
    return {"shape": list(arr.shape), "dtype": str(arr.dtype)}


if __name__ == "__main__":
    run_batch({"write": write, "read": read})
