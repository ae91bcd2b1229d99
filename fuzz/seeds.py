#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ from the committed fixtures (docs/fuzzing.md).

Run from the repository root: python3 fuzz/seeds.py. Needs numpy and the Debian package
dataset-fashion-mnist (/usr/share/datasets/fashion-mnist) for the IDX and NPY seeds.
Inputs of the two-file targets (idx, npy) are `u16 LE length of file 1 | file 1 | file 2`
(fuzz/src/targets.rs, split2).
"""
import glob
import gzip
import io
import json
import os
import shutil
import struct

import numpy as np

ROOT = "fuzz/corpus"
DATA = "/usr/share/datasets/fashion-mnist"
GOLDEN = ["tiny", "tiny_int", "mixed", "unrolled", "residual"]


def join2(a, b):
    assert len(a) < 65536
    return struct.pack("<H", len(a)) + a + b


def gz(b):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as f:
        f.write(b)
    return out.getvalue()


def write(target, name, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(f"{ROOT}/{target}/{name}", mode) as f:
        f.write(data)


def idx_head(name, n):
    """The first n items of a Fashion-MNIST IDX file, header adjusted."""
    raw = gzip.open(f"{DATA}/{name}").read()
    nd = raw[3]
    dims = list(struct.unpack(">" + "I" * nd, raw[4 : 4 + 4 * nd]))
    per = 1
    for x in dims[1:]:
        per *= x
    dims[0] = n
    return raw[:4] + struct.pack(">" + "I" * nd, *dims) + raw[4 + 4 * nd : 4 + 4 * nd + n * per]


def npy(arr, version=None):
    b = io.BytesIO()
    np.lib.format.write_array(b, arr, version=version)
    return b.getvalue()


def main():
    for t in "onnx idx npy model manifest fold".split():
        os.makedirs(f"{ROOT}/{t}", exist_ok=True)

    # onnx: every small import fixture
    for f in sorted(glob.glob("inq/tests/fixtures/*.onnx")):
        shutil.copy(f, f"{ROOT}/onnx/" + os.path.basename(f))

    # idx: the first images of Fashion-MNIST, plain and gzipped
    for split, n in [("train", 3), ("t10k", 1)]:
        im = idx_head(f"{split}-images-idx3-ubyte.gz", n)
        lb = idx_head(f"{split}-labels-idx1-ubyte.gz", n)
        write("idx", f"{split}{n}_plain", join2(im, lb))
        write("idx", f"{split}{n}_gzip", join2(gz(im), gz(lb)))
    im = idx_head("train-images-idx3-ubyte.gz", 2)
    lb = idx_head("train-labels-idx1-ubyte.gz", 2)
    write("idx", "train2_images_gzip_labels_plain", join2(gz(im), lb))
    im = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 255, 7, 9, 1, 2, 3, 4])
    lb = bytes([0, 0, 8, 1, 0, 0, 0, 2, 3, 9])
    write("idx", "tiny_2x2", join2(im, lb))

    # npy: the committed pairs, Fashion-MNIST images in the accepted dtypes and versions
    fx = "inq/tests/fixtures/npy"
    for a, b in [("train_images", "train_labels"), ("x_test", "y_test")]:
        with open(f"{fx}/{a}.npy", "rb") as fa, open(f"{fx}/{b}.npy", "rb") as fb:
            write("npy", f"fixture_{a}", join2(fa.read(), fb.read()))
    raw = gzip.open(f"{DATA}/train-images-idx3-ubyte.gz").read()[16 : 16 + 3 * 784]
    imgs = np.frombuffer(raw, dtype=np.uint8).reshape(3, 28, 28)
    labs = np.frombuffer(gzip.open(f"{DATA}/train-labels-idx1-ubyte.gz").read()[8:11], np.uint8)
    write("npy", "fashion3_u1", join2(npy(imgs), npy(labs.astype(np.int64))))
    unit = (imgs[:1].reshape(1, 1, 28, 28) / 255.0).astype(np.float32)
    write("npy", "fashion1_f4_unit_nchw", join2(npy(unit), npy(labs[:1].reshape(1, 1).astype(np.int32))))
    write(
        "npy",
        "fashion1_f8_v2_v3",
        join2(npy(imgs[:1].astype(np.float64), (2, 0)), npy(labs[:1].astype(np.uint16), (3, 0))),
    )
    small = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    write("npy", "tiny_i1_labels", join2(npy(small), npy(np.array([1, 2, 3], dtype=np.int8))))
    write("npy", "tiny_big_endian", join2(npy(small.astype(">i2")), npy(np.array([1, 2, 3], "<u8"))))
    fortran = np.asfortranarray(small.astype(np.float32))
    write("npy", "tiny_fortran", join2(npy(fortran), npy(np.array([1, 2, 3], dtype="<u4"))))

    # model: the small committed models (v2), and v1 (chain) forms of the chain ones
    models = {"toy": "testbenches/tests/fixtures/toy_design/model.json"}
    for g in GOLDEN:
        models[g] = f"codegen/tests/golden/{g}/model.json"
    for k, p in models.items():
        with open(p) as f:
            m = json.load(f)
        if m["version"] == 1:
            shutil.copy(p, f"{ROOT}/model/{k}_v1.json")
            continue
        shutil.copy(p, f"{ROOT}/model/{k}_v2.json")
        prev, chain = m["input"]["name"], True
        for n in m["nodes"]:
            ops = ("conv", "dense", "max_pool", "avg_pool", "global_avg_pool", "flatten")
            if n["inputs"] != [prev] or n["op"] not in ops or n.get("group", 1) != 1:
                chain = False
            prev = n["name"]
        if chain:
            layers = []
            for n in m["nodes"]:
                layer = {k2: v for k2, v in n.items() if k2 not in ("inputs", "group")}
                layers.append(layer)
            inp = {k2: v for k2, v in m["input"].items() if k2 != "name"}
            v1 = {"format": m["format"], "version": 1, "name": m["name"], "input": inp,
                  "layers": layers, "provenance": m["provenance"]}
            write("model", f"{k}_v1.json", json.dumps(v1, indent=1))

    # manifest: the committed manifests and one bare design
    mans = {"toy": "testbenches/tests/fixtures/toy_design/manifest.json"}
    for g in GOLDEN:
        mans[g] = f"codegen/tests/golden/{g}/manifest.json"
    for k, p in mans.items():
        shutil.copy(p, f"{ROOT}/manifest/{k}.json")
    with open(mans["tiny"]) as f:
        write("manifest", "tiny_bare_design.json", json.dumps(json.load(f)["design"]))

    # fold: folding files for the residual model the target plans against
    write("fold", "names.toml", '# residual model\n[[layer]]\nname = "l0"\npe = 2\nsimd = 2\n\n'
          '[[layer]]\nname = "l5"\npe = 3\nsimd = 4\n\n[[layer]]\nindex = 10\npe = 5\nsimd = 6\n')
    write("fold", "unit.toml", '[[layer]]\nname = "l3"\npe = 4\nsimd = 4\n[[layer]]\nindex = 1\npe = 1\nsimd = 1\n')
    write("fold", "empty.toml", "")
    write("fold", "bad_divisor.toml", '[[layer]]\nname = "l7"\npe = 4\nsimd = 3\n')
    layers = [{"name": "l6", "pe": 6, "simd": 3}, {"index": 0, "pe": 4, "simd": 1},
              {"name": "l10", "pe": 1, "simd": 6}]
    write("fold", "names.json", json.dumps({"layer": layers}, indent=1))


if __name__ == "__main__":
    main()
