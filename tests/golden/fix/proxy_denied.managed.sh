#!/usr/bin/env bash
# Azure ML managed network outbound rules that would make the failing checks of an amlprobe report pass (cloud public, region westeurope).
# Read each command before running it, and set every REPLACE- value first. Setting a rule that is there already updates it.
set -euo pipefail

# graph-443 (proxy_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# A managed network does not go through a proxy of yours. If jobs set one (HTTPS_PROXY), it must allow CONNECT to graph.windows.net:443.
