"""An independent client: the ORAS Python SDK (PyPI `oras`) pushes artifacts to the registry
(monolithic and chunked uploads), pulls them back and checks every file byte for byte.

Usage: oras_roundtrip.py HOST:PORT WORKDIR
"""
import hashlib
import os
import sys

import oras.client


def main():
    host, work = sys.argv[1], sys.argv[2]
    src = os.path.join(work, "src")
    os.makedirs(src, exist_ok=True)
    files = {}
    for name, size in [("notes.txt", 1234), ("model.bin", 3 * 1024 * 1024 + 17)]:
        data = hashlib.sha256(name.encode()).digest() * (size // 32 + 1)
        files[name] = data[:size]
        with open(os.path.join(src, name), "wb") as f:
            f.write(files[name])

    client = oras.client.OrasClient(hostname=host, insecure=True)
    os.chdir(src)  # oras stores paths relative to the working directory as titles
    target = f"{host}/artifacts/demo:v1"
    r = client.push(files=list(files), target=target)
    assert r.status_code in (200, 201), (r.status_code, r.text)
    chunked = f"{host}/artifacts/demo:chunked"
    r = client.push(files=["model.bin"], target=chunked, do_chunked=True, chunk_size=1024 * 1024)
    assert r.status_code in (200, 201), (r.status_code, r.text)

    tags = client.get_tags(f"{host}/artifacts/demo")
    assert sorted(tags) == ["chunked", "v1"], tags

    for ref, names in [(target, list(files)), (chunked, ["model.bin"])]:
        out = os.path.join(work, "out-" + ref.rsplit(":", 1)[1])
        pulled = client.pull(target=ref, outdir=out)
        got = sorted(os.path.basename(p) for p in pulled)
        assert got == sorted(names), (got, names)
        for name in names:
            with open(os.path.join(out, name), "rb") as f:
                assert f.read() == files[name], f"{ref} {name} differs"
    manifest = client.get_manifest(target)
    assert len(manifest["layers"]) == 2, manifest
    print("oras client: ok")


if __name__ == "__main__":
    main()
