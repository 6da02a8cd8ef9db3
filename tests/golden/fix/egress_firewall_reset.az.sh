#!/usr/bin/env bash
# Azure CLI changes that would make the failing checks of an amlprobe report pass (cloud public, region westeurope).
# Read each command before running it, and set every REPLACE- value first. Meant to run once: a rule that is already there makes its command fail.
set -euo pipefail

# The resources to change. One resource group stands for all of them: where one lives elsewhere, change that command's --resource-group.
RG='REPLACE-resource-group'
POLICY='REPLACE-firewall-policy'
# The compute subnet's address range, where the firewall rules allow traffic from (az network vnet subnet show --query addressPrefix shows it).
SOURCE='REPLACE-subnet-address-range'
# A rule collection group of its own: creating it replaces any group of that name.
RCG='aml-outbound'
RCG_PRIORITY='500'
APP_PRIORITY='400'

# batch-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
az network firewall policy rule-collection-group create \
  --resource-group "$RG" --policy-name "$POLICY" \
  --name "$RCG" --priority "$RCG_PRIORITY"
az network firewall policy rule-collection-group collection add-filter-collection \
  --resource-group "$RG" --policy-name "$POLICY" --rcg-name "$RCG" \
  --name aml-application --collection-priority "$APP_PRIORITY" --action Allow \
  --rule-name 'batch-443-app' --rule-type ApplicationRule \
  --source-addresses "$SOURCE" \
  --protocols Https=443 --target-fqdns '*.westeurope.batch.azure.com'

# graph-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
az network firewall policy rule-collection-group collection rule add \
  --resource-group "$RG" --policy-name "$POLICY" --rcg-name "$RCG" \
  --collection-name aml-application --name 'graph-443-app' --rule-type ApplicationRule \
  --source-addresses "$SOURCE" \
  --protocols Https=443 --target-fqdns 'graph.windows.net'

# entra-80 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az network firewall policy rule-collection-group collection rule add \
  --resource-group "$RG" --policy-name "$POLICY" --rcg-name "$RCG" \
  --collection-name aml-application --name 'entra-80-app' --rule-type ApplicationRule \
  --source-addresses "$SOURCE" \
  --protocols Http=80 --target-fqdns 'login.microsoftonline.com'

# entra-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az network firewall policy rule-collection-group collection rule add \
  --resource-group "$RG" --policy-name "$POLICY" --rcg-name "$RCG" \
  --collection-name aml-application --name 'entra-443-app' --rule-type ApplicationRule \
  --source-addresses "$SOURCE" \
  --protocols Https=443 --target-fqdns 'login.microsoftonline.com'

# Make sure these exist. The node could not confirm that they are missing, so no command adds them:
# tundra-udp-5831 (udp_no_reply), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
#   a network rule that allows UDP port 5831 to service tag AzureMachineLearning
