"""Independent checks of what voxport posted to the BOSS test server (test/boss/boss.test.ts).

Job on stdin (JSON): {"host", "token", "collection", "experiment", "channel", "datatype",
"box": {"min", "max"}, "expected": path of a raw C-order (z, y, x) file of the box's voxels,
"posts": [{"file": raw blosc body, "box": {...}}]}.

1. Every posted body is decompressed with python-blosc (PyPI `blosc`, c-blosc) and compared with
   the expected voxels of its URL box.
2. intern (PyPI `intern`, the official BOSS client) reads the whole box back through the same
   server and it is compared with the expected voxels.
Prints one JSON document on stdout; library chatter goes to stderr.
"""

import contextlib
import json
import sys

import blosc
import numpy as np


def main() -> None:
    job = json.load(sys.stdin)
    dtype = np.dtype(job["datatype"])
    lo, hi = job["box"]["min"], job["box"]["max"]
    shape = (hi[2] - lo[2], hi[1] - lo[1], hi[0] - lo[0])
    expected = np.fromfile(job["expected"], dtype=dtype).reshape(shape)

    out = {"posts": 0, "post_mismatches": [], "typesizes": []}
    for p in job["posts"]:
        body = open(p["file"], "rb").read()
        raw = blosc.decompress(body)
        b0, b1 = p["box"]["min"], p["box"]["max"]
        got = np.frombuffer(raw, dtype=dtype).reshape((b1[2] - b0[2], b1[1] - b0[1], b1[0] - b0[0]))
        want = expected[
            b0[2] - lo[2] : b1[2] - lo[2], b0[1] - lo[1] : b1[1] - lo[1], b0[0] - lo[0] : b1[0] - lo[0]
        ]
        out["posts"] += 1
        out["typesizes"].append(body[3])
        if not np.array_equal(got, want):
            out["post_mismatches"].append(p["box"])

    with contextlib.redirect_stdout(sys.stderr):
        from intern.remote.boss import BossRemote

        rmt = BossRemote({"protocol": "http", "host": job["host"], "token": job["token"]})
        chan = rmt.get_channel(job["channel"], job["collection"], job["experiment"])
        data = rmt.get_cutout(
            chan, 0, [lo[0], hi[0]], [lo[1], hi[1]], [lo[2], hi[2]], parallel=False
        )
    out["intern_datatype"] = chan.datatype
    out["intern_shape"] = list(data.shape)
    out["intern_equal"] = bool(np.array_equal(data, expected))
    out["intern_sum"] = int(data.astype(np.uint64).sum())
    out["expected_sum"] = int(expected.astype(np.uint64).sum())
    out["intern_version"] = __import__("intern").__version__
    out["blosc_version"] = blosc.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
