#!/usr/bin/env bash
# Azure ML managed network outbound rules that would make the failing checks of an amlprobe report pass (cloud public, region westeurope).
# Read each command before running it, and set every REPLACE- value first. Setting a rule that is there already updates it.
set -euo pipefail
# Nothing to change.

# Make sure these exist. The node could not confirm that they are missing, so no command adds them:
# tundra-udp-5831 (udp_no_reply), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
#   a network rule that allows UDP port 5831 to service tag AzureMachineLearning
