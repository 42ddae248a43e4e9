# The two entry points of a fresh machine are `make lab` and `make test` (see README.md).
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
ENV ?= lab
# The default release; the upgrade drill builds its source release on first use.
RELEASES := --release 1.37.2
# Fault and day-2 drills CI runs after the deploy, least disruptive first: the restore rewinds
# the cluster to the drill's own snapshot. As many as CI's time limit leaves room for
# (citools/drills_turn.py: all of them on a warm machine, the first ones on a fresh one). Of the
# nodes that lost their state, CI takes back the cheapest (a worker's kubelet state, about 1.5
# minutes); `make drills` runs the others.
DRILLS := $(addprefix tests/drills/test_,cgroup_v1_preflight.py run_lock.py plan_drift.py \
	vip_failover.py control_plane_loss.py addon_lifecycle.py no_secrets_in_logs.py \
	lost_state.py::test_a_worker_that_lost_its_kubelet_state_joins_again \
	quorum_loss.py etcd_backup_restore.py)
# The long drills (certificate renewal about 5 minutes, scale and upgrade 15-20 each on the lab,
# three nodes that lost their state taken back about 9, a scale and an upgrade cut short about
# 15, three control-plane nodes replaced and the lab rebuilt about 20, five deploys cut short and
# converged about 22): `make drills` runs them after the others.
DAY2_DRILLS := $(addprefix tests/drills/test_,certs_renew.py scale_remove.py upgrade.py \
	lost_state.py interrupted_day2.py replace_node.py interrupted_deploy.py)
# CI's share of the upstream conformance suite, on the fresh cluster before the drills: every
# [sig-network] conformance spec that may share the cluster (47 at 1.37: DNS, Services,
# EndpointSlices, Ingress and IngressClass API, proxy), the part an installer's CNI, kube-proxy,
# CoreDNS and ingress decide; about 2 minutes on the lab. `make conformance` runs all of it.
CI_CONFORMANCE := --mode non-disruptive --focus '\[sig-network\]' --timeout 15m
# Debian packages the control host needs: the lab (debootstrap, systemd-nspawn, iproute2),
# runc's cgo build (libseccomp-dev, pkg-config), the Debian package mirror (dpkg-dev, and
# apt-utils for apt-ftparchive), pause and the conformance suite's busybox (gcc, make, bzip2).
APT_PACKAGES := debootstrap systemd-container iproute2 iptables libseccomp-dev pkg-config \
	dpkg-dev apt-utils openssh-client rsync gcc libc6-dev make bzip2
# The VM lab (`make vm-e2e`) only: QEMU and qemu-img.
VM_APT_PACKAGES := qemu-system-x86 qemu-utils
VM_ENV ?= vm

.PHONY: setup apt venv lab mirror lab-down test lint unit test-lab e2e stack-e2e drills bench \
	molecule molecule-ci vm-e2e conformance clean

setup: apt venv

apt:
	@missing=$$(for p in $(APT_PACKAGES) $(EXTRA_APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done)
	if [ -n "$$missing" ]; then
	  echo "[setup] apt-get install $$missing"
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing
	fi

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# The main job on the embedded default: build the offline mirror, boot the lab machines, deploy
# the HA cluster from bare machines and verify it on the real hosts.
lab: setup
	$(BIN)/kubeforge validate $(ENV) --no-file-checks
	$(BIN)/kubeforge mirror build $(RELEASES)
	$(BIN)/kubeforge lab up $(ENV)
	$(BIN)/kubeforge deploy $(ENV) --yes
	$(BIN)/kubeforge verify $(ENV)

mirror: setup
	$(BIN)/kubeforge mirror build $(RELEASES)

lab-down: venv
	$(BIN)/kubeforge lab down $(ENV)

# Static checks, unit tests, then the real thing: lab machines, an HA cluster deployed from bare
# machines with the offline mirror, an idempotent re-run, the testinfra checks, a share of the
# conformance suite and the fault drills; the Pulumi stack; Molecule's fast scenarios and one slow
# one by turn.
test: setup lint unit test-lab e2e stack-e2e molecule-ci

lint: venv
	$(BIN)/ruff check kubeforge tests bench citools plugins collections stacks roles
	$(BIN)/mypy
	$(BIN)/yamllint -s .
	$(BIN)/kubeforge schema | diff -u inventories/cluster.schema.json - \
	  || { echo "schema is stale: kubeforge schema --output inventories/cluster.schema.json"; exit 1; }
	if compgen -G "roles/*/tasks/main.yml" >/dev/null; then $(BIN)/ansible-lint; fi
	for pb in playbooks/*.yml; do [ -e "$$pb" ] || continue
	  $(BIN)/ansible-playbook -i localhost, --syntax-check "$$pb"; done

unit: venv
	$(BIN)/pytest tests/unit

# Real machines: needs root, and builds the lab rootfs on first use. The lab serves the mirror,
# which a fresh machine has not built yet (cached by version: nothing to do once it has).
test-lab: setup
	$(BIN)/kubeforge mirror build $(RELEASES)
	$(BIN)/pytest -m lab tests/lab

# End to end on the lab from bare machines (the mirror build is cached by version).
e2e: setup
	$(BIN)/kubeforge lab down $(ENV)
	$(BIN)/kubeforge mirror build $(RELEASES)
	$(BIN)/kubeforge lab up $(ENV)
	$(BIN)/kubeforge deploy $(ENV) --yes
	$(BIN)/kubeforge deploy $(ENV) --yes --expect-no-changes
	$(BIN)/kubeforge verify $(ENV)
	$(BIN)/kubeforge conformance $(ENV) $(CI_CONFORMANCE)
	$(PY) -m citools.drills_turn --env $(ENV) $(DRILLS)
	$(BIN)/kubeforge lab down $(ENV)

# The Pulumi stack on the lab: `pulumi up -s lab` from no machines, verify, a preview with no
# changes, a chart bump previewed as one update, destroy (tests/stack/test_pulumi_lab.py).
stack-e2e: setup
	$(BIN)/kubeforge lab down $(ENV)
	$(BIN)/kubeforge mirror build $(RELEASES)
	$(BIN)/pytest -p no:cacheprovider -s -m lab tests/stack

# Every drill: CI's, then the long ones (scale out/in, the upgrade), on a deployed lab (`make lab` first).
drills: setup
	$(BIN)/pytest -p no:cacheprovider -s $(DRILLS) $(DAY2_DRILLS) --env $(ENV)

# The upstream conformance suite, every spec (certified mode), on a deployed lab (`make lab`
# first); the suite and its images are built on first use.
conformance: setup
	$(BIN)/kubeforge conformance $(ENV) --mode certified

# The performance figures (not a test: run it on a quiet machine; it rebuilds the bench lab).
bench: setup
	$(BIN)/python -m bench.run --repeat 2 --workers 2

# Molecule scenarios (molecule/<role>/, one per role) on their own small lab
# (inventories/molecule): every one, or SCENARIO=NAME alone. Molecule reads the rendered
# inventory before its create step boots the machines, so it is rendered first.
SCENARIO ?=
molecule: setup
	$(BIN)/kubeforge lab up molecule
	$(BIN)/kubeforge render molecule
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/molecule test $(if $(SCENARIO),-s $(SCENARIO),--all)

# CI's share (citools/molecule_turn.py): the four fast scenarios, then the slow one whose turn
# it is (the commit count), when the time CI has spent leaves it room.
molecule-ci: setup
	trap '$(BIN)/kubeforge lab down molecule' EXIT
	$(BIN)/kubeforge lab up molecule
	$(BIN)/kubeforge render molecule
	PATH=$(abspath $(BIN)):$$PATH $(PY) -m citools.molecule_turn

# The same from bare machines on QEMU virtual machines (inventories/vm: 1 + 1, Debian's kernel,
# the spec's defaults), a reboot of one VM, then down. Slow without KVM: about an hour here.
vm-e2e:
	$(MAKE) setup EXTRA_APT_PACKAGES="$(VM_APT_PACKAGES)"
	$(BIN)/kubeforge mirror build $(RELEASES)
	$(BIN)/pytest -p no:cacheprovider -s -m lab tests/vm --env $(VM_ENV)

clean:
	rm -rf .cache .mypy_cache .ruff_cache .pytest_cache
