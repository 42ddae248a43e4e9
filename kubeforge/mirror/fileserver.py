"""The static file server for <mirror>/files (run detached by `kubeforge mirror serve`).

`python -m kubeforge.mirror.fileserver --root DIR --bind ADDR --port PORT`
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


class Handler(SimpleHTTPRequestHandler):
    # Tarballs and binaries are opaque bytes; guessing e.g. application/gzip would make some
    # clients transparently decompress them and then fail the checksum.
    TEXT: ClassVar[tuple[str, ...]] = (".sha256", ".yml", "Packages", "Release")

    def guess_type(self, path: Any) -> str:
        return "text/plain" if str(path).endswith(self.TEXT) else "application/octet-stream"

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(root: str, bind: str, port: int) -> None:
    handler = functools.partial(Handler, directory=root)
    with Server((bind, port), handler) as httpd:
        httpd.serve_forever()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="kubeforge.mirror.fileserver")
    p.add_argument("--root", required=True)
    p.add_argument("--bind", required=True)
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    serve(args.root, args.bind, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
