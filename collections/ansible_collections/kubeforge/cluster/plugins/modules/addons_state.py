"""Ansible module kubeforge.cluster.addons_state: what the addons role compares with the
declaration, read in one run on the node that runs helm:

  recorded  the release list this role recorded last time (None: the record does not exist yet)
  releases  "namespace/name" -> {status, chart, version, config} of each release's newest revision
  charts    "namespace/name" -> digest of the local chart copy on this node (see chart_digest in
            kubeforge/addons.py), for the releases with a local chart
  paths     path -> "mode uid:gid link sha256" of each of the query's paths ("-": does not apply,
            null when the path does not exist): what installing helm would change

Releases are read from helm 3's storage (Secrets labelled owner=helm: the default driver, the one
the role's helm uses) with one API call, instead of one `helm status` per release.
"""

import base64
import gzip
import hashlib
import json
import os
import subprocess
from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]

DOCUMENTATION = r"""
module: addons_state
short_description: Read the release record, the deployed releases and the local chart digests
options:
  kubeconfig: {description: Kubeconfig of the cluster., type: path, required: true}
  namespace: {description: Namespace of the release record., type: str, required: true}
  configmap: {description: ConfigMap of the release record., type: str, required: true}
  releases: {description: The declared releases (namespace/name)., type: list, elements: str}
  charts_dir: {description: Where the local chart copies' digests are kept., type: path}
  paths:
    description: Paths whose mode, owner, link (and digest if in O(sha256)) are reported.
    type: list
    elements: path
  sha256: {description: The paths among O(paths) whose digest is reported., type: list,
           elements: path}
"""

Query = dict[str, Any]


class ReadError(Exception):
    pass


def kubectl(query: Query, *args: str) -> tuple[int, str, str]:
    proc = subprocess.run(["kubectl", "--kubeconfig", query["kubeconfig"], *args],
                          capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def recorded(query: Query) -> list[str] | None:
    rc, out, err = kubectl(query, "-n", query["namespace"], "get", "configmap", query["configmap"],
                           "-o", "jsonpath={.data.releases}")
    if rc != 0:
        if "NotFound" in err:
            return None
        raise ReadError("reading the release record failed: " + err.strip())
    names: list[str] = json.loads(out or "[]")
    return names


def releases(query: Query) -> dict[str, dict[str, Any]]:
    rc, out, err = kubectl(query, "get", "secrets", "--all-namespaces", "-l", "owner=helm",
                           "-o", "json")
    if rc != 0:
        raise ReadError("reading helm's releases failed: " + err.strip())
    newest: dict[str, tuple[int, str]] = {}
    for item in json.loads(out)["items"]:
        labels = item["metadata"].get("labels", {})
        key = item["metadata"]["namespace"] + "/" + labels.get("name", "")
        if key in query["releases"] and int(labels.get("version", 0)) > newest.get(key, (0,))[0]:
            newest[key] = (int(labels["version"]), item["data"]["release"])
    found: dict[str, dict[str, Any]] = {}
    for key, (_, data) in newest.items():
        # the Secret holds base64(gzip(json)) and the API base64-encodes Secret data once more
        release = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(data))))
        meta = (release.get("chart") or {}).get("metadata") or {}
        found[key] = {"status": release["info"]["status"], "chart": meta.get("name"),
                      "version": meta.get("version"), "config": release.get("config") or {}}
    return found


def charts(query: Query) -> dict[str, str]:
    found: dict[str, str] = {}
    for key in query["releases"]:
        stamp = os.path.join(query["charts_dir"], key.replace("/", "-") + ".sha256")
        if os.path.isfile(stamp):
            with open(stamp) as f:
                found[key] = f.read().strip()
    return found


def paths(query: Query) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for path in query.get("paths", []):
        try:
            st = os.lstat(path)
        except OSError:
            found[path] = None
            continue
        link = os.readlink(path) if os.path.islink(path) else "-"
        digest = "-"
        if path in query.get("sha256", []) and os.path.isfile(path):
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        found[path] = f"{st.st_mode & 0o7777:04o} {st.st_uid}:{st.st_gid} {link} {digest}"
    return found


def main() -> None:
    module = AnsibleModule(argument_spec={
        "kubeconfig": {"type": "path", "required": True},
        "namespace": {"type": "str", "required": True},
        "configmap": {"type": "str", "required": True},
        "releases": {"type": "list", "elements": "str", "default": []},
        "charts_dir": {"type": "path", "default": ""},
        "paths": {"type": "list", "elements": "path", "default": []},
        "sha256": {"type": "list", "elements": "path", "default": []},
    }, supports_check_mode=True)
    query: Query = dict(module.params)
    try:
        module.exit_json(changed=False, recorded=recorded(query), releases=releases(query),
                         charts=charts(query), paths=paths(query))
    except ReadError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
