#!/usr/bin/env bash
# Azure CLI changes that would make the failing checks of an amlprobe report pass (cloud public, region westeurope).
# Read each command before running it, and set every REPLACE- value first. Meant to run once: a rule that is already there makes its command fail.
set -euo pipefail
# Nothing to change.

# Make sure these exist. The node could not confirm that they are missing, so no command adds them:
# tundra-udp-5831 (udp_no_reply), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
#   a network rule that allows UDP port 5831 to service tag AzureMachineLearning
