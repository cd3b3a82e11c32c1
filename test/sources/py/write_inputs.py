"""Write test inputs with independent writers: TIFF with tifffile, NIfTI with nibabel.

Job (stdin JSON, see test/helpers/python.ts): {"op": "tiff" | "nifti" | "big_tiff", "cases": [...]}.
Arrays come as .npy files of shape (x, y, z[, c]) in Fortran order (voxport's block layout).

- tiff: pages are z; each page is the (y, x[, c]) image. Options: bigtiff, tile [h, w],
  rowsperstrip, compression ("zlib", "lzw", "packbits", None), predictor, byteorder ("<", ">").
- nifti: the array is written as voxel axes (i, j, k[, t]) = (x, y, z[, c]); options: dtype,
  zooms, units ("mm", "micron", "meter"), affine (4x4), slope/inter, path (.nii or .nii.gz).
- big_tiff: a width x height x depth uint16 tiled BigTIFF written tile by tile (never a whole
  page in memory): value(x, y, z) = (x * 7 + y * 13 + z * 1009) % 65536.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "interop" / "py"))
from common import load_npy, run_batch, save_npy  # noqa: E402


def write_tiff(case: dict) -> dict:
    import tifffile

    arr = load_npy(case["npy"])  # (x, y, z[, c])
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3:
        pages = np.transpose(arr, (2, 1, 0))  # (z, y, x)
    else:
        pages = np.transpose(arr, (2, 1, 0, 3))  # (z, y, x, c)
    pages = np.ascontiguousarray(pages)
    dtype = np.dtype(case.get("dtype", str(pages.dtype))).newbyteorder(case.get("byteorder", "<"))
    kwargs: dict = {
        "photometric": "rgb" if pages.ndim == 4 else "minisblack",
        "compression": case.get("compression"),
        "metadata": None,
    }
    if case.get("tile"):
        kwargs["tile"] = tuple(case["tile"])
    if case.get("rowsperstrip"):
        kwargs["rowsperstrip"] = case["rowsperstrip"]
    if case.get("predictor"):
        kwargs["predictor"] = case["predictor"]
    with tifffile.TiffWriter(
        case["path"], bigtiff=bool(case.get("bigtiff")), byteorder=case.get("byteorder", "<")
    ) as tw:
        for page in pages:
            tw.write(page.astype(dtype), contiguous=False, **kwargs)
    return {"path": case["path"]}


def write_nifti(case: dict) -> dict:
    """Write with nibabel, then read back with nibabel: `expected` is nibabel's own view of the
    voxels (scl_slope/inter applied, as np.asanyarray(img.dataobj) gives them)."""
    import struct

    import nibabel as nib

    arr = load_npy(case["npy"])
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    dtype = np.dtype(case["dtype"])
    zooms = [float(z) for z in case.get("zooms", [1.0, 1.0, 1.0])]
    affine = np.array(case["affine"], dtype=float) if "affine" in case else np.diag(zooms + [1.0])
    data = arr.astype(dtype.newbyteorder(">") if case.get("big_endian") else dtype)
    cls = nib.Nifti2Image if case.get("nifti2") else nib.Nifti1Image
    img = cls(data, affine)
    img.header.set_data_dtype(data.dtype)
    img.header.set_xyzt_units(xyz=case.get("units", "mm"), t="sec")
    img.header.set_zooms(tuple(zooms) + (1.0,) * (arr.ndim - 3))
    nib.save(img, case["path"])
    if "slope" in case:
        # nibabel rewrites scl_slope/inter from its own array writer on save; patch them after.
        assert not case["path"].endswith(".gz") and not case.get("nifti2")
        with open(case["path"], "r+b") as f:
            f.seek(112)
            order = ">ff" if case.get("big_endian") else "<ff"
            f.write(struct.pack(order, case["slope"], case.get("inter", 0.0)))
    back = nib.load(case["path"])
    expected = np.asanyarray(back.dataobj)
    # As voxport stores them: little-endian, float64 as float32.
    expected = expected.astype(expected.dtype.newbyteorder("<"))
    if expected.dtype == np.float64:
        expected = expected.astype(np.float32)
    out = {
        "path": case["path"],
        "zooms": [float(z) for z in back.header.get_zooms()],
        "shape": list(back.shape),
        "dtype": str(back.get_data_dtype()),
        "units": list(back.header.get_xyzt_units()),
    }
    if case.get("expected"):
        save_npy(case["expected"], expected)
        out["expected_dtype"] = str(expected.dtype)
    return out


def write_big_tiff(case: dict) -> dict:
    import tifffile

    w, h, d = case["width"], case["height"], case["depth"]
    th, tw = case.get("tile", [512, 512])
    # value(x, y, z) = (7x + 13y + 1009z) mod 2^16: one base tile, shifted by a per-tile constant
    # (uint16 arithmetic wraps, which is the mod), so generating a tile costs one addition.
    ys = np.arange(th, dtype=np.uint32)[:, None]
    xs = np.arange(tw, dtype=np.uint32)[None, :]
    base = ((xs * 7 + ys * 13) % 65536).astype(np.uint16)

    def tiles(z: int):
        for ty in range(0, h, th):
            for tx in range(0, w, tw):
                v = base + np.uint16((tx * 7 + ty * 13 + z * 1009) % 65536)
                if ty + th > h or tx + tw > w:
                    # Edge tiles: zeros outside the image, as the TIFF spec pads tiles.
                    v = v.copy()
                    v[max(0, h - ty) :, :] = 0
                    v[:, max(0, w - tx) :] = 0
                yield v

    compression = case.get("compression")
    with tifffile.TiffWriter(case["path"], bigtiff=True) as t:
        for z in range(d):
            t.write(
                tiles(z),
                shape=(h, w),
                dtype=np.uint16,
                tile=(th, tw),
                compression=compression,
                compressionargs={"level": 1} if compression == "zlib" else None,
                photometric="minisblack",
                metadata=None,
            )
    return {"path": case["path"], "bytes": Path(case["path"]).stat().st_size}


if __name__ == "__main__":
    run_batch({"tiff": write_tiff, "nifti": write_nifti, "big_tiff": write_big_tiff})
