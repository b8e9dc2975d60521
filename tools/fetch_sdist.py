"""Download one source distribution from pip's configured package index, checking its sha256.

Used by tools/setup_env.sh for `pb1-detectron2==0.6`, whose metadata declares a direct-URL extra
that makes `pip download` refuse it. Usage: fetch_sdist.py NAME VERSION SHA256 DEST_DIR
"""

import hashlib
import re
import subprocess
import sys
import urllib.request
from pathlib import Path


def index_url() -> str:
    """The index pip uses here (pip config `global.index-url`, else pip's default)."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
        capture_output=True,
        text=True,
    )
    if out.returncode == 0 and out.stdout.strip():
        return out.stdout.strip().rstrip("/")
    from pip._internal.models.index import PyPI

    return PyPI.simple_url.rstrip("/")


def main(name: str, version: str, sha256: str, dest: str) -> None:
    page = f"{index_url()}/{name}/"
    html = urllib.request.urlopen(page, timeout=120).read().decode()
    links = re.findall(r'href="([^"]+)"', html)
    wanted = [u for u in links if u.split("#")[0].endswith(f"{name}-{version}.tar.gz")]
    if not wanted:
        sys.exit(f"fetch_sdist: no {name}-{version}.tar.gz on {page}")
    url = urllib.parse.urljoin(page, wanted[0].split("#")[0])
    data = urllib.request.urlopen(url, timeout=300).read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        sys.exit(f"fetch_sdist: sha256 mismatch for {url}: got {digest}, expected {sha256}")
    out = Path(dest) / f"{name}-{version}.tar.gz"
    out.write_bytes(data)
    print(f"fetch_sdist: wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
