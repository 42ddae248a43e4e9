"""`kubeforge conformance ENV`: the upstream conformance suite against a deployed cluster."""

from __future__ import annotations

import argparse

from kubeforge.conformance import modes


def _cmd(args: argparse.Namespace) -> int:
    from kubeforge.conformance import run
    from kubeforge.errors import KubeforgeError
    from kubeforge.spec import load_spec

    spec = load_spec(args.env, check_files=False)
    if args.list_images:
        return run.list_images(spec)
    if args.parallel < 1:
        raise KubeforgeError(f"--parallel {args.parallel}: give 1 or more")
    modes.selection(args.mode, args.focus, args.skip)  # bad regexes stop here, before any build
    return run.run(spec, run.Options(mode=args.mode, focus=args.focus, skip=args.skip,
                                     parallel=args.parallel, timeout=args.timeout,
                                     registry=args.registry))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_modes = "; ".join(f"{m.name}: {m.help}" for m in modes.MODES.values())
    p = sub.add_parser("conformance", help="run the upstream Kubernetes conformance suite "
                       "against the cluster (exit 0 only when no spec failed)")
    p.add_argument("env", nargs="?", default="lab",
                   help="environment name (inventories/ENV/cluster.yml) or a spec path")
    p.add_argument("--mode", choices=list(modes.MODES), default="quick", help=help_modes)
    p.add_argument("--focus", help="only specs whose text matches this regex (replaces the "
                   "mode's own list in quick mode); still conformance specs only")
    p.add_argument("--skip", help="leave out specs whose text matches this regex")
    p.add_argument("--parallel", type=int, default=4, metavar="N",
                   help="ginkgo processes (default 4); [Serial] specs still run alone")
    p.add_argument("--timeout", default="6h",
                   help="stop the suite after this long (ginkgo duration, default 6h)")
    p.add_argument("--registry", metavar="HOST[:PORT][/PATH]",
                   help="where the nodes pull the suite's images when not through the kubeforge "
                   "mirror (writes KUBE_TEST_REPO_LIST)")
    p.add_argument("--list-images", action="store_true",
                   help="list the images the suite uses and whether the mirror has them")
    p.set_defaults(func=_cmd)
