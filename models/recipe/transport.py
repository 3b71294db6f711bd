"""Carry a checkpoint folder to the GPU machine in fewer bytes, losslessly.

A call's working tree may be at most 64 MiB, and the shipped model alone is ~59 MiB, so the
fine-tuning calls (`run_ft.sh`) carry it packed: each safetensors shard's tensor bytes are split
into byte planes (the even bytes and the odd bytes of every bf16/fp16 value) and each plane is
LZMA-compressed. The high bytes (sign and exponent) compress to ~18 %, the low bytes (mantissa)
to ~50 %, the whole folder to 67.4 % (58.9 -> 39.7 MiB, measured on models/default). Other files
are LZMA-compressed as they are. `manifest.json` holds every file's SHA-256; `unpack` checks them.

  python3 models/recipe/transport.py pack   models/default .ftinit/init    # here (CPU machine)
  python3 models/recipe/transport.py unpack .ftinit/init /tmp/slip/init    # there (GPU machine)

Standard library only.
"""
from __future__ import annotations

import hashlib
import json
import lzma
import os
import struct
import sys
from concurrent.futures import ProcessPoolExecutor

MAGIC = b"SLPK1\n"


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _pack_one(src: str, dst: str) -> tuple[str, int, int]:
    with open(src, "rb") as f:
        raw = f.read()
    name = os.path.basename(src)
    if name.endswith(".safetensors"):
        n = struct.unpack("<Q", raw[:8])[0]
        head, body = raw[:8 + n], raw[8 + n:]
        if len(body) % 2:
            raise ValueError(f"{src}: tensor bytes not a whole number of 16-bit values")
        planes = [lzma.compress(body[0::2], preset=9), lzma.compress(body[1::2], preset=9)]
        out = MAGIC + struct.pack("<QQQ", len(head), len(planes[0]), len(planes[1])) + head + planes[0] + planes[1]
        with open(dst + ".slpk", "wb") as f:
            f.write(out)
        return name, len(raw), len(out)
    out = lzma.compress(raw, preset=9)
    with open(dst + ".xz", "wb") as f:
        f.write(out)
    return name, len(raw), len(out)


def _unpack_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if not data.startswith(MAGIC):
        raise ValueError(f"{path}: not a packed shard")
    o = len(MAGIC)
    hl, l0, l1 = struct.unpack("<QQQ", data[o:o + 24])
    o += 24
    head = data[o:o + hl]
    o += hl
    even = lzma.decompress(data[o:o + l0])
    odd = lzma.decompress(data[o + l0:o + l0 + l1])
    if len(even) != len(odd):
        raise ValueError(f"{path}: byte planes differ in length")
    body = bytearray(2 * len(even))
    body[0::2] = even
    body[1::2] = odd
    return head + bytes(body)


def pack(src_dir: str, dst_dir: str) -> None:
    os.makedirs(dst_dir, exist_ok=True)
    names = sorted(n for n in os.listdir(src_dir) if os.path.isfile(os.path.join(src_dir, n)) and n != "README.md")
    manifest = {}
    for n in names:
        with open(os.path.join(src_dir, n), "rb") as f:
            manifest[n] = _sha(f.read())
    with ProcessPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as ex:
        res = list(ex.map(_pack_one, [os.path.join(src_dir, n) for n in names], [os.path.join(dst_dir, n) for n in names]))
    total_in = sum(r[1] for r in res)
    total_out = sum(r[2] for r in res)
    with open(os.path.join(dst_dir, "manifest.json"), "w") as f:
        json.dump({"files": manifest, "bytes_in": total_in, "bytes_packed": total_out}, f, indent=1)
    print(f"packed {len(names)} files: {total_in / 2**20:.1f} MiB -> {total_out / 2**20:.1f} MiB "
          f"({100 * total_out / total_in:.1f} %)")


def unpack(src_dir: str, dst_dir: str) -> None:
    with open(os.path.join(src_dir, "manifest.json")) as f:
        manifest = json.load(f)["files"]
    os.makedirs(dst_dir, exist_ok=True)
    for n, sha in manifest.items():
        p = os.path.join(src_dir, n + (".slpk" if n.endswith(".safetensors") else ".xz"))
        raw = _unpack_bytes(p)
        if _sha(raw) != sha:
            raise ValueError(f"{n}: SHA-256 mismatch after unpacking (corrupt or truncated {p})")
        with open(os.path.join(dst_dir, n), "wb") as f:
            f.write(raw)
    print(f"unpacked {len(manifest)} files into {dst_dir}, SHA-256 verified")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("pack", "unpack"):
        sys.exit(__doc__)
    (pack if sys.argv[1] == "pack" else unpack)(sys.argv[2], sys.argv[3])
