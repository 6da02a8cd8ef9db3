#!/usr/bin/env bash
# Azure ML managed network outbound rules that would make the failing checks of an amlprobe report pass (cloud public, region westeurope).
# Read each command before running it, and set every REPLACE- value first. Setting a rule that is there already updates it.
set -euo pipefail

# The workspace whose managed network the rules are for.
RG='REPLACE-resource-group'
WORKSPACE='REPLACE-workspace'

# Azure ML adds the rules its own services need (the AzureMachineLearning and BatchNodeManagement tags among them) by itself. To see what is there:
# az ml workspace outbound-rule list --resource-group "$RG" --workspace-name "$WORKSPACE"

# batch-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# An fqdn rule makes Azure ML add a managed Azure Firewall to the network, which is billed.
az ml workspace outbound-rule set \
  --resource-group "$RG" --workspace-name "$WORKSPACE" --rule 'batch-443-fqdn' \
  --type fqdn --destination '*.westeurope.batch.azure.com'

# graph-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
az ml workspace outbound-rule set \
  --resource-group "$RG" --workspace-name "$WORKSPACE" --rule 'graph-443-fqdn' \
  --type fqdn --destination 'graph.windows.net'

# entra-80 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az ml workspace outbound-rule set \
  --resource-group "$RG" --workspace-name "$WORKSPACE" --rule 'entra-80-fqdn' \
  --type fqdn --destination 'login.microsoftonline.com'

# entra-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az ml workspace outbound-rule set \
  --resource-group "$RG" --workspace-name "$WORKSPACE" --rule 'entra-443-fqdn' \
  --type fqdn --destination 'login.microsoftonline.com'

# Make sure these exist. The node could not confirm that they are missing, so no command adds them:
# tundra-udp-5831 (udp_no_reply), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
#   a network rule that allows UDP port 5831 to service tag AzureMachineLearning
