"""CloudVolume side of the interop tests: write a volume, or read one back.

Job (stdin, JSON): {"op": "write" | "read", "cases": [case, ...]} where a case is
  write: {"name", "path": "/abs/dir", "info": {...precomputed info...}, "npy": data file,
          "readback"?: .npy path for CloudVolume's own decode of what it wrote (for jpeg)}
  read:  {"name", "path", "out": .npy path, "box"?: {"min": [x,y,z], "max": [x,y,z]}}
Boxes are absolute voxel coordinates of scale 0 (voxel_offset included); default: the whole scale.

With "deinterleave_jpeg": true (write or read), multi-channel jpeg chunks are decoded with
`decode_jpeg_deinterleaved` below instead of CloudVolume's own decode_jpeg, which is wrong for
num_channels > 1 in CloudVolume 12.15.2 (see there). Everything else is CloudVolume as shipped.

Writes use CloudVolume's defaults (gzip'd `<key>.gz` files for raw/cseg; jpeg at the scale's
jpeg_quality, else 85); sharded scales are written one shard-aligned region per upload, as
igneous does (CloudVolume only builds whole shards).
"""

import contextlib

import cloudvolume.chunks
import numpy as np
import simplejpeg
from cloudvolume import CloudVolume
from cloudvolume.datasource.precomputed.sharding import image_shard_shape_from_spec

from common import bounds, load_npy, run_batch, save_npy, scale0, shard_boxes


def decode_jpeg_deinterleaved(bytestring, shape, dtype):
    """CloudVolume's `chunks.decode_jpeg`, fixed for several channels.

    CloudVolume 12.15.2 reshapes simplejpeg's (y*z, x, channel) pixels, which are interleaved,
    with `.ravel().reshape(shape, order="F")` as if they were planar, so a 3-channel chunk comes
    back scrambled (its own writes included; `decode_png` has the same flaw). This is the same
    simplejpeg decode, put in [x, y, z, channel] order as NG, TensorStore and CV's own encoder
    (`as2d`) lay it out.
    """
    x, y, z, c = shape
    colorspace = "RGB" if c > 1 else "GRAY"
    img = simplejpeg.decode_jpeg(bytes(bytestring), colorspace=colorspace)  # (y*z, x, c)
    return np.asfortranarray(img.reshape(z, y, x, c).transpose(2, 1, 0, 3)).astype(dtype)


@contextlib.contextmanager
def jpeg_decoder(case: dict):
    original = cloudvolume.chunks.decode_jpeg
    if case.get("deinterleave_jpeg"):
        cloudvolume.chunks.decode_jpeg = decode_jpeg_deinterleaved
    try:
        yield
    finally:
        cloudvolume.chunks.decode_jpeg = original


def open_volume(path: str, info: dict | None = None) -> CloudVolume:
    return CloudVolume(
        "file://" + path,
        mip=0,
        info=info,
        progress=False,
        fill_missing=False,
        bounded=True,
        parallel=1,
    )


def read_box(vol: CloudVolume, box: dict | None):
    if box is None:
        lo, hi = bounds(vol.info)
    else:
        lo, hi = box["min"], box["max"]
    return vol[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]


def write(case: dict) -> dict:
    info = case["info"]
    vol = open_volume(case["path"], info)
    vol.commit_info()
    data = load_npy(case["npy"])
    lo, hi = bounds(info)
    s = scale0(info)
    if "sharding" in s:
        shape = image_shard_shape_from_spec(s["sharding"], s["size"], s["chunk_sizes"][0])
        regions = list(shard_boxes(info, [int(v) for v in shape]))
    else:
        regions = [(lo, hi)]
    for a, b in regions:
        vol[a[0] : b[0], a[1] : b[1], a[2] : b[2]] = data[
            a[0] - lo[0] : b[0] - lo[0], a[1] - lo[1] : b[1] - lo[1], a[2] - lo[2] : b[2] - lo[2]
        ]
    if case.get("readback"):
        with jpeg_decoder(case):
            save_npy(case["readback"], read_box(open_volume(case["path"]), None))
    return {"regions": len(regions)}


def read(case: dict) -> dict:
    with jpeg_decoder(case):
        arr = read_box(open_volume(case["path"]), case.get("box"))
    save_npy(case["out"], arr)
    return {"shape": list(arr.shape), "dtype": str(arr.dtype)}


if __name__ == "__main__":
    run_batch({"write": write, "read": read})
