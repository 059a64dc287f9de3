# loom's dev cluster (real HDFS + YARN, Kafka, Hive metastore): included by the
# root Makefile. See integration/cluster/cluster.sh for the settings (LOOM_* env
# vars) and integration/cluster/README.md.
#
#   make cluster-up      start what is not running, wait until ready, print export lines
#   make cluster-down    stop what cluster-up started (and leftover YARN containers)
#   make cluster-status  show what runs
#   make cluster-env     print the export lines of the running cluster
#
# Use in a shell:  eval "$(make -s cluster-up)"
LOOM_CLUSTER_SH := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))/cluster.sh

.PHONY: cluster-up cluster-down cluster-status cluster-env
cluster-up:
	@bash $(LOOM_CLUSTER_SH) up

cluster-down:
	@bash $(LOOM_CLUSTER_SH) down

cluster-status:
	@bash $(LOOM_CLUSTER_SH) status

cluster-env:
	@bash $(LOOM_CLUSTER_SH) env
