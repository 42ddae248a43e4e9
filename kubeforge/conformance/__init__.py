"""`kubeforge conformance`: the upstream Kubernetes conformance suite against a deployed cluster.

The suite is the release's own e2e.test and ginkgo (built by the mirror, `conformance`
component); its images come from the mirror registry (mirror/e2eimages.py). It runs on the control
host with the cluster's admin kubeconfig, like `kubeforge status`: nothing is installed in the
cluster for the run, so the only objects left to clean up are the suite's own namespaces.
"""
