"""Every release's bill of materials matches what its kubeadm pins (etcd, CoreDNS, pause).

The constants come from the k8s.io/kubernetes module itself (the Go module proxy, cached in the
Go module cache), so "1.33.13 pins etcd 3.5.21 while kubeadm wants 3.5.24" fails here.
"""

from __future__ import annotations

import itertools

import pytest

from kubeforge import versions
from kubeforge.errors import KubeforgeError
from kubeforge.mirror.kubeadm_pins import KubeadmPins, kubeadm_pins, parse_constants


@pytest.mark.parametrize("kubernetes", sorted(versions.RELEASES))
def test_release_matches_kubeadm_constants(kubernetes: str) -> None:
    release = versions.RELEASES[kubernetes]
    pins = kubeadm_pins(kubernetes)
    ours = KubeadmPins(etcd=release.etcd, coredns=release.coredns, pause=release.pause)
    assert ours == pins, f"versions.py {kubernetes}: {ours} but kubeadm pins {pins}"
    # the image tags kubeadm will ask containerd for are the ones the mirror serves
    assert versions.image_ref(release, "etcd").endswith(f":{pins.etcd}-0")


def test_parse_constants_reads_kubeadms_forms() -> None:
    text = ('\tDefaultEtcdVersion = "3.7.0-0"\n\tCoreDNSVersion = "v1.14.6"\n'
            '\t// PauseVersion indicates ...\n\tPauseVersion = "3.10.2"\n')
    assert parse_constants(text) == KubeadmPins("3.7.0", "1.14.6", "3.10.2")
    with pytest.raises(KubeforgeError, match="PauseVersion"):
        parse_constants(text.replace("PauseVersion =", "PauseVersionX ="))


def test_supported_releases_are_the_three_newest_minors() -> None:
    minors = sorted({r.minor for r in versions.RELEASES.values()})
    assert len(minors) == 3 and minors[-1] == versions.RELEASES[
        versions.DEFAULT_KUBERNETES].minor
    assert [b[1] - a[1] for a, b in itertools.pairwise(minors)] == [1, 1]
