"""Malformed input: every file kubeforge reads ends in a clean error that names the file and line
(never a traceback or a hang), and values the consumers would refuse are refused by validate."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeforge import addons, artifacts, paths, plan, render
from kubeforge.errors import KubeforgeError, SpecError
from kubeforge.spec import formats, load_spec
from kubeforge.spec.loader import validate_data

Writer = Callable[[dict[str, Any]], Path]
LAB_TEXT = (paths.inventories_dir() / "lab" / "cluster.yml").read_text()

BOMB = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 10 if p else ['x'] * 10)}]\n"
               for p, c in zip(["", *"abcdefg"], "abcdefgh", strict=True))


def _error(path: Path) -> str:
    with pytest.raises(KubeforgeError) as exc:
        load_spec(path, check_files=False)
    return str(exc.value)


def _problems(data: dict[str, Any], write_spec: Writer) -> list[str]:
    try:
        load_spec(write_spec(data), check_files=False)
    except SpecError as exc:
        return str(exc).splitlines()[1:]
    return []


@pytest.mark.parametrize(("tail", "expected"), [
    (b"\n# caf\xe9\n", "not UTF-8 text (byte 0xe9"),
    (b"\nx: " + b"[" * 3000 + b"]" * 3000 + b"\n", "nested too deeply"),
    (b"\nx:\n" + b"".join(b"  " * i + b"k%d:\n" % i for i in range(60)) + b"  " * 60 + b"v: 1\n",
     "nested more than 50 levels"),
    (b"\n" + BOMB.encode(), "expands to more than"),
    (b"\nbad: [unclosed\n", "not valid YAML"),
    (b"\n\x00\x01binary", "not valid YAML"),
])
def test_unreadable_specs_are_named(lab_data: dict[str, Any], write_spec: Writer,
                                    tail: bytes, expected: str) -> None:
    path = write_spec(lab_data)
    path.write_bytes(path.read_bytes() + tail)
    started = time.monotonic()
    message = _error(path)
    assert expected in message and path.name in message
    assert time.monotonic() - started < 10  # no hang on an alias bomb


def test_spec_too_large(lab_data: dict[str, Any], write_spec: Writer) -> None:
    path = write_spec(lab_data)
    path.write_bytes(path.read_bytes() + b"#" * (5 << 20))
    assert "larger than 4 MiB" in _error(path)


def test_values_files_that_are_not_yaml(lab_data: dict[str, Any], write_spec: Writer,
                                         tmp_path: Path, lab_files: Path) -> None:
    # lab_files: the cert-manager issuer's CA bundle, which expand reads, without a mirror build
    (tmp_path / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\xff\x00")
    (tmp_path / "folder.yaml").mkdir()
    for name, expected in (("binary.yaml", "not UTF-8"), ("folder.yaml", "is a folder")):
        data = {k: v for k, v in lab_data.items() if k not in ("releases", "mirrors")}
        data["releases"] = [{"name": "app", "chart": "app", "version": "1.0.0",
                             "source": {"repo": "https://charts.example.org"},
                             "values_files": [name]}]
        with pytest.raises(KubeforgeError, match=expected) as exc:
            addons.expand(load_spec(write_spec(data), check_files=False))
        assert "release default/app: values file" in str(exc.value)


def test_validate_reads_values_files_as_render_does(lab_data: dict[str, Any],
                                                     write_spec: Writer, tmp_path: Path) -> None:
    """What validate accepts, render handles: an unreadable values file is a spec problem."""
    (tmp_path / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\xff\x00")
    (tmp_path / "list.yaml").write_text("- a\n")
    data = {k: v for k, v in lab_data.items() if k not in ("releases", "mirrors")}
    data["releases"] = [{"name": "app", "chart": "app", "version": "1.0.0",
                         "source": {"repo": "https://charts.example.org"},
                         "values_files": [str(tmp_path / "binary.yaml"),
                                          str(tmp_path / "list.yaml")]}]
    with pytest.raises(SpecError) as exc:
        load_spec(write_spec(data), check_files=True)
    found = str(exc.value)
    assert "releases[0].values_files[0]: values file of app:" in found and "not UTF-8" in found
    assert "releases[0].values_files[1]" in found and "mapping at the top level" in found


@pytest.mark.parametrize("version", ["not a version", "latest", "^1.2.0", "1.2", ">=1"])
def test_chart_versions_are_exact(lab_data: dict[str, Any], write_spec: Writer,
                                  version: str) -> None:
    lab_data["releases"][0]["version"] = version
    found = _problems(lab_data, write_spec)
    assert any("releases[0].version" in p for p in found), found


def test_checksums_file_that_is_not_a_table(lab_data: dict[str, Any], write_spec: Writer,
                                            tmp_path: Path) -> None:
    for body, expected in (("a: [b\n", "not valid YAML"), ("- a\n", "expected {artifact")):
        table = tmp_path / "checksums.yml"
        table.write_text(body)
        lab_data["mirrors"]["checksums_file"] = str(table)
        with pytest.raises(KubeforgeError, match=expected) as exc:
            artifacts.resolve(load_spec(write_spec(lab_data), check_files=False))
        assert "mirrors.checksums_file" in str(exc.value)


@pytest.mark.parametrize(("path", "value", "expected"), [
    (("cert_manager", "version"), "latest", "'latest' is not a version"),
    (("ingress", "version"), "41.6.0", "not a Traefik 3 version"),
    (("control_plane_endpoint", "interface"), "eth0; reboot", "':' or whitespace"),
    (("control_plane_endpoint", "interface"), "averyveryverylongname0", "1 to 15"),
    (("control_plane_endpoint", "port"), 10250, "the kubelet's on every node"),
    (("ssh", "port"), 2379, "etcd clients'"),
    (("network", "service_cidr"), "10.0.0.0/8", "larger than kube-apiserver accepts"),
    (("network", "service_cidr"), "10.96.0.0/30", "too small"),
    (("network", "pod_cidr"), "10.244.0.0/25", "smaller than the /24"),
    (("network", "pod_cidr"), "10.244.0.0/22", "holds 4 node ranges of /24 for 5 nodes"),
])
def test_values_the_consumers_would_refuse(lab_data: dict[str, Any], write_spec: Writer,
                                           path: tuple[str, str], value: Any,
                                           expected: str) -> None:
    section, field = path
    lab_data.setdefault(section, {})[field] = value
    found = _problems(lab_data, write_spec)
    assert any(expected in p and f"{section}.{field}" in p for p in found), found


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("my label", "x", "name part"),
    ("Example.com/x", "x", "prefix that is not a DNS subdomain"),
    ("node-role.kubernetes.io/worker", "", "NodeRestriction"),
    ("k8s.io/x", "y", "NodeRestriction"),
    ("example.com/tier", "front end", "label value"),
    ("tier\n", "x", "name part"),
])
def test_node_labels_the_kubelet_would_refuse(lab_data: dict[str, Any], write_spec: Writer,
                                              key: str, value: str, expected: str) -> None:
    lab_data["hosts"][3]["labels"] = {key: value}
    found = _problems(lab_data, write_spec)
    assert any(expected in p and "hosts[3].labels" in p for p in found), found


def test_labels_a_kubelet_may_set() -> None:
    for key in ("node.kubernetes.io/exclude-from-external-load-balancers",
                "topology.kubernetes.io/zone", "example.com/tier", "tier"):
        assert formats.label_key(key) is None, key
    assert formats.label_value("") is None


def test_a_folder_where_a_file_belongs(lab_data: dict[str, Any], write_spec: Writer,
                                       tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    lab_data["ssh"]["key"] = str(tmp_path / "keys")
    with pytest.raises(SpecError, match=r"ssh.key: SSH private key .* is a folder"):
        load_spec(write_spec(lab_data), check_files=True)


# Property: any document made of the spec's own keys and arbitrary values either validates or
# gets a clean SpecError/KubeforgeError; whatever validates, plan and render's inputs accept.
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 70000), st.text(max_size=12),
                     st.sampled_from(["10.240.0.11", "10.0.0.0/8", "1.37.2", "eth0", "vip"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.dictionaries(
    st.sampled_from(["name", "kubernetes", "hosts", "control_plane_endpoint", "network", "cni",
                     "ingress", "cert_manager", "releases", "mirrors", "ssh", "lab", "etcd",
                     "upgrade", "certificates", "unknown"]),
    _values, max_size=3))
def test_any_document_validates_or_gets_a_clean_error(changes: dict[str, Any]) -> None:
    data = yaml.safe_load(LAB_TEXT)
    data.update(changes)
    try:
        spec = validate_data(data, "cluster.yml", check_files=False)
    except (SpecError, KubeforgeError):
        return
    render.inventory(spec)
    try:
        plan.summary(spec)
        render.group_vars(spec)
    except KubeforgeError:
        pass  # a missing file or digest, said cleanly


@settings(max_examples=200, deadline=None)
@given(labels=st.dictionaries(st.text(max_size=70), st.text(max_size=70), max_size=3),
       interface=st.text(max_size=20), cidr=st.integers(0, 32))
def test_any_labels_interface_or_cidr_size(labels: dict[str, str], interface: str,
                                           cidr: int) -> None:
    data = yaml.safe_load(LAB_TEXT)
    data["hosts"][3]["labels"] = labels
    data["control_plane_endpoint"]["interface"] = interface
    data["network"]["service_cidr"] = f"10.96.0.0/{cidr}"
    try:
        spec = validate_data(data, "cluster.yml", check_files=False)
    except (SpecError, KubeforgeError):
        return
    assert all(formats.label_key(k) is None for k in spec.hosts[3].labels)
    render.inventory(spec)


def test_ingress_values_the_chart_does_not_have(lab_data: dict[str, Any],
                                                write_spec: Writer) -> None:
    lab_data["ingress"]["values"] = {"hostPort": {"web": 80}, "image": {"tags": "v3.6.12"},
                                     "nodeSelector": {"any/key": "x"}, "ports": {}}
    found = _problems(lab_data, write_spec)
    assert any("ingress.values.hostPort" in p and "did you mean 'hostPorts'" in p for p in found)
    assert any("ingress.values.image.tags" in p and "did you mean 'tag'" in p for p in found)
    assert any("ingress.values.ports" in p for p in found)
    assert not any("values.nodeSelector" in p for p in found), found  # free-form: defaults to {}
