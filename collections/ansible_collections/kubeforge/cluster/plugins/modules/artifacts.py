"""Ansible module kubeforge.cluster.artifacts: fetch pinned artifacts and install them, in one call.

A role that installs binaries from the mirror used to spend one module run per download, per
unpacked archive, per copied file and per link (get_url, unarchive, copy, file), each a round trip
and a Python start on every node. This module does the same work in one run: downloads go in
parallel, every byte is checked against its sha256 before anything is installed, files land by
atomic rename (a running binary is never overwritten in place), and check mode and --diff report
what would change without touching the node.
"""

from __future__ import annotations

import os
import tarfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]
from ansible.module_utils.urls import open_url  # type: ignore[import-untyped]
from ansible_collections.kubeforge.cluster.plugins.module_utils.fs import (
    DigestMismatch,
    ensure_folder,
    file_mode,
    folder_spec,
    parse_mode,
    record_sums,
    sha256_of,
    write_atomic,
)
from ansible_collections.kubeforge.cluster.plugins.module_utils.rendered import (
    FILE_OPTIONS,
    Invalid,
    write_files,
)

DOCUMENTATION = r"""
module: artifacts
short_description: Download checksummed artifacts and install files, archives and links from them
description:
  - Each artifact is downloaded to O(cache_dir) unless the file there already has its sha256;
    a download whose sha256 differs fails the task and installs nothing.
  - The artifact is then copied to O(artifacts[].install), unpacked into O(artifacts[].unpack),
    or both (O(artifacts[].member) picks the unpacked file that is installed).
  - Links are set next, then the rendered O(files) (the configuration that goes with the
    binaries, in the same run). Everything is owned by root.
options:
  cache_dir:
    description: Folder of the downloads without O(artifacts[].dest) (created 0755).
    type: path
    default: /var/cache/kubeforge
  folders:
    description:
      - Folders made (or set to) root:root before anything is installed, each a path (mode
        0755) or {path, mode}.
    type: list
    elements: raw
    default: []
  artifacts:
    description: The artifacts.
    type: list
    elements: dict
    required: true
    suboptions:
      name: {description: Label in messages., type: str, required: true}
      version: {description: Informational (the rendered artifacts carry it)., type: str}
      url: {description: Where to download it from., type: str, required: true}
      sha256: {description: Expected digest of the download., type: str, required: true}
      dest: {description: Where the download is kept (mode O(mode)) instead of O(cache_dir)
                          (mode 0644)., type: path}
      install: {description: Path the file (or O(member)) is copied to., type: path}
      mode: {description: Mode of O(install) and O(dest)., type: raw, default: "0755"}
      unpack: {description: Folder a .tar.gz artifact is unpacked into., type: path}
      member: {description: Archive member (relative to O(unpack)) that is copied to O(install).,
               type: str}
      strip: {description: Leading path components dropped from the archive members., type: int,
              default: 0}
      creates: {description: Path whose presence means O(unpack) is done (with O(marker), both
                             must hold)., type: path}
      marker: {description: File holding the sha256 of the last unpacked archive; O(unpack) is
                            done when it holds this one (and O(creates) exists)., type: path}
  links:
    description: Symbolic links (link path -> target) set after the artifacts are installed.
    type: dict
    default: {}
  files:
    description:
      - Rendered files written after the artifacts, as the kubeforge.cluster.files module
        writes them (only those that differ; those with C(validate) checked before any is
        replaced).
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: Where the file goes., type: path, required: true}
      content: {description: Its content., type: str, required: true}
      mode: {description: Its mode., type: raw, default: "0644"}
      validate: {description: A command that must accept the new content (C(%s) is a copy of it).,
                 type: str}
  timeout:
    description: Seconds a download may stall.
    type: int
    default: 60
"""

class Installer:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params: dict[str, Any] = module.params
        self.changes: list[str] = []
        # path -> sha256 of every file this run verified or installed (for the probes' cache)
        self.sums: dict[str, str] = {}
        self.before: list[str] = []
        self.after: list[str] = []

    def note(self, what: str, before: str, after: str) -> None:
        self.changes.append(what)
        self.before.append(f"{what}: {before}")
        self.after.append(f"{what}: {after}")

    def download_path(self, art: dict[str, Any]) -> str:
        cache: str = self.params["cache_dir"]
        return art.get("dest") or os.path.join(cache, os.path.basename(art["url"]))

    def fetch(self, art: dict[str, Any]) -> str | None:
        """Downloads one artifact unless it is there already; returns an error or None."""
        dest, mode = self.download_path(art), download_mode(art)
        if sha256_of(dest) == art["sha256"] and file_mode(dest) == (mode, 0, 0):
            self.sums[dest] = art["sha256"]
            return None
        if not self.module.check_mode:
            try:
                write_atomic(dest, open_url(art["url"], timeout=self.params["timeout"]), mode,
                             expect=art["sha256"])
            except DigestMismatch as got:
                return (f"{art['name']}: {art['url']} served a file with sha256 {got}, expected "
                        f"{art['sha256']}. The mirror and the checksums disagree: rebuild the "
                        f"mirror (kubeforge mirror build) or fix mirrors.checksums_file.")
            except Exception as exc:  # reported per artifact, with its URL
                return f"{art['name']}: downloading {art['url']} failed: {exc}"
        self.note(dest, "missing or other content/mode",
                  f"sha256 {art['sha256']} from {art['url']}, mode {mode:04o}")
        self.sums[dest] = art["sha256"]
        return None

    def install_file(self, src: str, dest: str, mode: int) -> None:
        digest = sha256_of(src) if not self.module.check_mode or os.path.exists(src) else None
        if digest is not None:
            self.sums[dest] = digest
        if digest is not None and digest == sha256_of(dest) and file_mode(dest) == (mode, 0, 0):
            return
        self.note(dest, "missing or other content/mode", f"copy of {src}, mode {mode:04o}")
        if self.module.check_mode:
            return
        with open(src, "rb") as source:
            write_atomic(dest, source, mode)

    def unpack(self, art: dict[str, Any]) -> None:
        folder: str = art["unpack"]
        marker: str | None = art.get("marker")
        creates: str | None = art.get("creates")
        if not marker and not creates:
            self.module.fail_json(msg=f"{art['name']}: unpack needs creates or marker")
        # done when each given sign holds: a file removed by hand is unpacked again
        if (not creates or os.path.exists(creates)) and \
                (not marker or read_text(marker) == art["sha256"] + "\n"):
            return
        self.note(folder, "not unpacked", f"contents of {os.path.basename(art['url'])}")
        if self.module.check_mode:
            return
        with tarfile.open(self.download_path(art), "r:*") as archive:
            for member in archive:
                extract(archive, member, folder, art["strip"])
        if marker:
            with open(marker + ".tmp", "w", encoding="ascii") as out:
                out.write(art["sha256"] + "\n")
            os.chmod(marker + ".tmp", 0o644)
            os.replace(marker + ".tmp", marker)

    def folder(self, path: str, mode: int) -> None:
        if ensure_folder(path, mode, self.module.check_mode):
            self.note(path, "missing or another mode/owner", f"folder {mode:04o} root:root")

    def link(self, path: str, src: str) -> None:
        try:
            if os.readlink(path) == src:
                return
        except OSError:
            pass
        self.note(path, "missing or another target", f"-> {src}")
        if self.module.check_mode:
            return
        tmp = f"{path}.kubeforge-tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(src, tmp)
        os.replace(tmp, path)

    def run(self) -> None:
        arts: list[dict[str, Any]] = self.params["artifacts"]
        for art in arts:
            if art.get("member") and not (art.get("unpack") and art.get("install")):
                self.module.fail_json(msg=f"{art['name']}: member needs unpack and install")
        folders = dict(folder_spec(item) for item in self.params["folders"])
        if any(not art.get("dest") for art in arts):
            folders.setdefault(self.params["cache_dir"], 0o755)
        for path, mode in folders.items():
            self.folder(path, mode)
        with ThreadPoolExecutor(max_workers=max(1, min(6, len(arts)))) as pool:
            unique = {self.download_path(art): art for art in arts}.values()
            errors = [e for e in pool.map(self.fetch, unique) if e]
        if errors:
            self.module.fail_json(msg="; ".join(errors), changed=bool(self.changes))
        for art in arts:
            try:
                if art.get("unpack"):
                    self.unpack(art)
                if art.get("install"):
                    src = (os.path.join(art["unpack"], art["member"]) if art.get("member")
                           else self.download_path(art))
                    self.install_file(src, art["install"], parse_mode(art["mode"]))
            except (OSError, ValueError, tarfile.TarError) as exc:
                self.module.fail_json(msg=f"{art['name']}: installing failed: {exc}",
                                      changed=bool(self.changes), changes=self.changes)
        for path, src in self.params["links"].items():
            self.link(path, str(src))
        if not self.module.check_mode:
            record_sums(self.sums)
        try:
            written, file_diffs = write_files(self.module, self.params["files"])
        except Invalid as exc:
            self.module.fail_json(msg=str(exc), changed=bool(self.changes), changes=self.changes)
        except OSError as exc:
            self.module.fail_json(msg=f"writing {exc.filename} failed: {exc.strerror}",
                                  changed=bool(self.changes), changes=self.changes)
        diffs: list[dict[str, str]] = file_diffs
        if self.before:
            mine = {"before": "\n".join(self.before) + "\n", "after": "\n".join(self.after) + "\n"}
            diffs = [mine, *diffs]
        changes = self.changes + written
        self.module.exit_json(changed=bool(changes), changes=changes,
                              diff=(diffs[0] if len(diffs) == 1 else diffs) if diffs else {})


def download_mode(art: dict[str, Any]) -> int:
    """A download kept at its own dest has the artifact's mode; the cache holds plain files."""
    return parse_mode(art["mode"]) if art.get("dest") else 0o644


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def extract(archive: tarfile.TarFile, member: tarfile.TarInfo, folder: str, strip: int) -> None:
    """One member below folder; names that leave it and special files are refused."""
    name = os.path.normpath(member.name)
    if os.path.isabs(name) or name == ".." or name.startswith("../"):
        raise ValueError(f"archive member {member.name!r} points outside {folder}")
    name = os.path.join(*name.split(os.sep)[strip:]) if name.count(os.sep) >= strip else ""
    if name in (".", ""):
        return
    dest = os.path.join(folder, name)
    if member.isdir():
        os.makedirs(dest, mode=0o755, exist_ok=True)
    elif member.isfile():
        source = archive.extractfile(member)
        if source is None:
            raise ValueError(f"archive member {member.name!r} cannot be read")
        write_atomic(dest, source, 0o755 if member.mode & 0o111 else 0o644)
    elif member.issym():
        target = os.path.normpath(os.path.join(os.path.dirname(dest), member.linkname))
        if not target.startswith(os.path.normpath(folder) + os.sep):
            raise ValueError(f"archive link {member.name!r} points outside {folder}")
        if os.path.lexists(dest):
            os.unlink(dest)
        os.symlink(member.linkname, dest)
    else:
        raise ValueError(f"archive member {member.name!r} is not a file, folder or link")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "cache_dir": {"type": "path", "default": "/var/cache/kubeforge"},
            "folders": {"type": "list", "elements": "raw", "default": []},
            "artifacts": {"type": "list", "elements": "dict", "required": True, "options": {
                "name": {"type": "str", "required": True},
                "version": {"type": "str"},
                "url": {"type": "str", "required": True},
                "sha256": {"type": "str", "required": True},
                "dest": {"type": "path"},
                "install": {"type": "path"},
                "mode": {"type": "raw", "default": "0755"},
                "unpack": {"type": "path"},
                "member": {"type": "str"},
                "strip": {"type": "int", "default": 0},
                "creates": {"type": "path"},
                "marker": {"type": "path"},
            }},
            "links": {"type": "dict", "default": {}},
            "files": {"type": "list", "elements": "dict", "default": [], "options": FILE_OPTIONS},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    Installer(module).run()


if __name__ == "__main__":
    main()
