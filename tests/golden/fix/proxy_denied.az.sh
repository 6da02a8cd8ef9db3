#!/usr/bin/env bash
# amlprobe fix: the rules that make the report's checks pass, as Azure CLI commands.
# Report from the Azure public cloud, region westeurope.
# Read each command before running it, and set every REPLACE- value first. Meant to run once: a rule that is already there makes its command fail.
set -euo pipefail
# Nothing to declare in Azure: the changes below are made outside it.

# The HTTP proxy (not an Azure resource) must allow CONNECT to:
#   graph-443 (proxy_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
#   CONNECT graph.windows.net:443
