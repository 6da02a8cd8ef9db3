#!/usr/bin/env bash
# amlprobe fix: the rules that make the report's checks pass, as Azure ML managed network outbound rules.
# Report from the Azure public cloud, region westeurope.
# Read each command before running it, and set every REPLACE- value first. Setting a rule that is there already updates it.
set -euo pipefail

# The workspace whose managed network the rules are for.
RESOURCE_GROUP='REPLACE-resource-group'
WORKSPACE='REPLACE-workspace'

# Azure ML adds the rules its own services need (the AzureMachineLearning and BatchNodeManagement tags among them) by itself. To see what is there:
# az ml workspace outbound-rule list --resource-group "$RESOURCE_GROUP" --workspace-name "$WORKSPACE"

# graph-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# An fqdn rule makes Azure ML add a managed Azure Firewall to the network, which is billed.
az ml workspace outbound-rule set \
  --resource-group "$RESOURCE_GROUP" --workspace-name "$WORKSPACE" --rule 'amlprobe-graph-443' \
  --type fqdn --destination 'graph.windows.net'

# entra-80 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az ml workspace outbound-rule set \
  --resource-group "$RESOURCE_GROUP" --workspace-name "$WORKSPACE" --rule 'amlprobe-entra-80' \
  --type fqdn --destination 'login.microsoftonline.com'

# entra-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az ml workspace outbound-rule set \
  --resource-group "$RESOURCE_GROUP" --workspace-name "$WORKSPACE" --rule 'amlprobe-entra-443' \
  --type fqdn --destination 'login.microsoftonline.com'

# Make sure these exist (the node could not tell whether they are missing, so they are
# not added here):
#   firewall network rule and NSG outbound rule: UDP 5831 to service tag AzureMachineLearning
#     tundra-udp-5831 (udp_no_reply), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
