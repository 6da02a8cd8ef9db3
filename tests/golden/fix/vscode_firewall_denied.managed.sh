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

# vscode-marketplace-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
# An fqdn rule makes Azure ML add a managed Azure Firewall to the network, which is billed.
az ml workspace outbound-rule set \
  --resource-group "$RESOURCE_GROUP" --workspace-name "$WORKSPACE" --rule 'amlprobe-vscode-marketplace-443' \
  --type fqdn --destination 'marketplace.visualstudio.com'

# vscode-update-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az ml workspace outbound-rule set \
  --resource-group "$RESOURCE_GROUP" --workspace-name "$WORKSPACE" --rule 'amlprobe-vscode-update-443' \
  --type fqdn --destination 'update.code.visualstudio.com'
