"""Write aligned sections as HDF5 with h5py, the way Alembic lays them out (an independent writer
for test/aligned): dataset "img" of shape [height, width] (x is the fastest-varying axis), chunked
and gzip-compressed when asked.

stdin: {"files": [{"npy": path, "h5": path, "chunks": [ch, cw] | null, "gzip": bool}]}
       each .npy holds one section as (x, y, 1, 1), Fortran order (test/aligned/scene.ts).
stdout: {"written": n}
"""

import json
import sys

import h5py
import numpy as np


def main() -> None:
    job = json.load(sys.stdin)
    for f in job["files"]:
        arr = np.load(f["npy"])[:, :, 0, 0].T  # (x, y) -> (y, x): row-major, x fastest
        arr = np.ascontiguousarray(arr)
        with h5py.File(f["h5"], "w") as h5:
            kwargs = {}
            if f.get("chunks"):
                kwargs["chunks"] = tuple(f["chunks"])
            if f.get("gzip"):
                kwargs["compression"] = "gzip"
            h5.create_dataset("img", data=arr, **kwargs)
    print(json.dumps({"written": len(job["files"])}))


if __name__ == "__main__":
    main()
