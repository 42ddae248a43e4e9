"""`kubeforge mirror build|serve|status|verify`."""

from __future__ import annotations

import argparse

from kubeforge import versions
from kubeforge.mirror import build, checksums, serve, status
from kubeforge.mirror.layout import MirrorLayout


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("mirror", help="build and serve the offline artifact mirror")
    sub = p.add_subparsers(dest="mirror_command", required=True)

    b = sub.add_parser("build", help="build binaries, tarballs, images and OS packages "
                                     "(cached by version; safe to re-run)")
    b.add_argument("--release", action="append", metavar="VERSION",
                   help=f"Kubernetes release to build (repeatable; default "
                        f"{versions.DEFAULT_KUBERNETES}; known: {', '.join(versions.RELEASES)})")
    b.add_argument("--only", action="append", metavar="COMPONENT", choices=build.choices(),
                   help=f"build only these (repeatable): {', '.join(build.choices())}")
    b.set_defaults(func=_cmd_build)

    s = sub.add_parser("serve", help="serve files on ADDR:8080 and an OCI registry on ADDR:5000")
    s.add_argument("--listen", default="127.0.0.1", metavar="ADDR",
                   help="address to listen on (default 127.0.0.1; the lab uses 10.240.0.1)")
    s.add_argument("--stop", action="store_true", help="stop both servers")
    s.add_argument("--no-push", action="store_true", help="do not push images on start")
    s.set_defaults(func=_cmd_serve)

    st = sub.add_parser("status", help="what is built and whether the servers answer")
    st.set_defaults(func=_cmd_status)

    v = sub.add_parser("verify", help="re-hash every artifact against checksums.yml, the "
                                      ".sha256 files and the image digests")
    v.set_defaults(func=_cmd_verify)


def _cmd_build(args: argparse.Namespace) -> int:
    build.build(args.release or [versions.DEFAULT_KUBERNETES], args.only or [])
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    if args.stop:
        print("[mirror] stopped" if serve.stop() else "[mirror] was not running")
        return 0
    serve.start(args.listen, push=not args.no_push)
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    print(status.report(MirrorLayout.default()))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    layout = MirrorLayout.default()
    checksums.verify_or_raise(layout)
    print(f"[mirror] {layout.root}: every file and image blob matches its checksum")
    return 0
