#!/usr/bin/env bash
# amlprobe fix: the rules that make the report's checks pass, as Azure ML managed network outbound rules.
# Report from the Azure public cloud, region westeurope.
# Read each command before running it, and set every REPLACE- value first. Setting a rule that is there already updates it.
set -euo pipefail
# Nothing to change: no rule is missing from the firewall, NSG, routes or DNS.

# Make sure these exist (the node could not tell whether they are missing, so they are
# not added here):
#   firewall network rule and NSG outbound rule: UDP 5831 to service tag AzureMachineLearning
#     tundra-udp-5831 (udp_no_reply), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
