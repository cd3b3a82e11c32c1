"""CLAHE by scikit-image, for test/interop/clahe.test.ts.

stdin JSON: {"cases": [{"name", "input": raw uint8 file (h rows of w), "w", "h", "kernel",
"clip", "output": path, "tiled": bool}]}. Each output is emwrite's step: (equalize_adapthist(img,
kernel_size=kernel, clip_limit=clip) * 255).astype(uint8), written raw; with "tiled", done over
emwrite's 3072-pixel tiles, each equalised over its window grown by 512 (clipped to the image),
zeros kept zero, only the tile itself kept. (The test scenes hold 0 and 255 in every window, so
emwrite's range pinning changes nothing there.) Prints {"skimage": version}.
"""

import json
import sys

import numpy as np
import skimage
from skimage import exposure


def equalise(img: np.ndarray, kernel: int, clip: float) -> np.ndarray:
    out = exposure.equalize_adapthist(img, kernel_size=kernel, clip_limit=clip)
    return (out * 255).astype(np.uint8)


def tiled(img: np.ndarray, kernel: int, clip: float, size: int = 3072, overlap: int = 512):
    h, w = img.shape
    target = np.zeros_like(img)
    for y in range(0, h, size):
        for x in range(0, w, size):
            y0, x0 = max(0, y - overlap), max(0, x - overlap)
            window = img[y0 : y + size + overlap, x0 : x + size + overlap]
            if not window.any():
                continue
            eq = equalise(window, kernel, clip)
            eq[window == 0] = 0
            th, tw = min(size, h - y), min(size, w - x)
            target[y : y + th, x : x + tw] = eq[y - y0 : y - y0 + th, x - x0 : x - x0 + tw]
    return target


def main() -> None:
    job = json.load(sys.stdin)
    for case in job["cases"]:
        img = np.fromfile(case["input"], dtype=np.uint8).reshape(case["h"], case["w"])
        if case.get("tiled"):
            out = tiled(img, case["kernel"], case["clip"])
        else:
            out = equalise(img, case["kernel"], case["clip"])
        out.tofile(case["output"])
    print(json.dumps({"skimage": skimage.__version__}))


if __name__ == "__main__":
    main()
