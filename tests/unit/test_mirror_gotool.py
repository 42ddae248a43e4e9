"""Parsing upstream go.mod files for the wrapper modules, and apt's dependency listing."""

from __future__ import annotations

from kubeforge.mirror import debs, gotool

GOMOD = """module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
	k8s.io/api v0.0.0
	github.com/foo/bar v1.2.3 // indirect
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	github.com/old/mod v1.0.0 => github.com/new/mod v1.0.1
)

replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY

exclude (
	// comment
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc
)
"""


def test_parse_gomod() -> None:
    m = gotool.parse_gomod(GOMOD)
    assert m.go == "1.24.0"
    assert m.godebug == ("default=go1.24",)
    assert m.replaces == (
        ("k8s.io/api", "./staging/src/k8s.io/api", None),
        ("github.com/old/mod@v1.0.0", "github.com/new/mod", "v1.0.1"),  # stays version-bound
        ("go.etcd.io/etcd", "./FORBIDDEN_DEPENDENCY", None),
    )
    assert m.requires == (("k8s.io/api", "v0.0.0"), ("github.com/foo/bar", "v1.2.3"))
    assert m.excludes == (
        ("github.com/davecgh/go-spew", "v1.1.2-0.20180830191138-d8f796af33cc"),)


def test_default_binary_names() -> None:
    assert gotool._default_name("go.etcd.io/etcd/server/v3") == "server"
    assert gotool._default_name("k8s.io/kubernetes/cmd/kubeadm") == "kubeadm"
    assert gotool._default_name("github.com/coredns/coredns") == "coredns"


def test_parse_apt_depends() -> None:
    out = """haproxy
  Depends: libc6
  Depends: <awk>
    mawk
libc6
  Depends: libgcc-s1
<awk>
mawk
libgcc-s1
"""
    assert debs.parse_depends(out) == ["haproxy", "libc6", "libgcc-s1", "mawk"]
