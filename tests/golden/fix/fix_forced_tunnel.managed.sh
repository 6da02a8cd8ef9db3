#!/usr/bin/env bash
# amlprobe fix: the rules that make the report's checks pass, as Azure ML managed network outbound rules.
# Report from the Azure public cloud, region westeurope, compute with a public IP.
# Read each command before running it, and set every REPLACE- value first. Setting a rule that is there already updates it.
set -euo pipefail

# The workspace whose managed network the rules are for.
RESOURCE_GROUP='REPLACE-resource-group'
WORKSPACE='REPLACE-workspace'

# Azure ML adds the rules its own services need (the AzureMachineLearning and BatchNodeManagement tags among them) by itself. To see what is there:
# az ml workspace outbound-rule list --resource-group "$RESOURCE_GROUP" --workspace-name "$WORKSPACE"

# workspace-api-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
# An fqdn rule makes Azure ML add a managed Azure Firewall to the network, which is billed.
az ml workspace outbound-rule set \
  --resource-group "$RESOURCE_GROUP" --workspace-name "$WORKSPACE" --rule 'amlprobe-workspace-api-443' \
  --type fqdn --destination 'westeurope.api.azureml.ms'

# batch-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# batch-service-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
az ml workspace outbound-rule set \
  --resource-group "$RESOURCE_GROUP" --workspace-name "$WORKSPACE" --rule 'amlprobe-batch-443' \
  --type service_tag --service-tag 'BatchNodeManagement.westeurope' \
  --protocol '*' --port-ranges 443

# workspace-api-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
# batch-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# batch-service-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# A managed network has no route table of yours: Azure ML routes its traffic itself, so there is no route to add for AzureMachineLearning.

# workspace-api-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
# batch-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# batch-service-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# A managed network has no route table of yours: Azure ML routes its traffic itself, so there is no route to add for BatchNodeManagement.westeurope.
