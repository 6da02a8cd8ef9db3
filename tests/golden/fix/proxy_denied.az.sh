#!/usr/bin/env bash
# Azure CLI changes that would make the failing checks of an amlprobe report pass (cloud public, region westeurope).
# Read each command before running it, and set every REPLACE- value first. Meant to run once: a rule that is already there makes its command fail.
set -euo pipefail

# graph-443 (proxy_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# The HTTP proxy must allow CONNECT to graph.windows.net:443. The proxy is not an Azure resource, so there is no command for it.
