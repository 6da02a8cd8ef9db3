#!/usr/bin/env bash
# Azure CLI changes that would make the failing checks of an amlprobe report pass (cloud public, region westeurope).
# Read each command before running it, and set every REPLACE- value first. Meant to run once: a rule that is already there makes its command fail.
set -euo pipefail

# The resources to change. One resource group stands for all of them: where one lives elsewhere, change that command's --resource-group.
RG='REPLACE-resource-group'
POLICY='REPLACE-firewall-policy'
NSG='REPLACE-nsg'
ROUTE_TABLE='REPLACE-route-table'
# The compute subnet's address range, where the firewall rules allow traffic from (az network vnet subnet show --query addressPrefix shows it).
SOURCE='REPLACE-subnet-address-range'
# A rule collection group of its own: creating it replaces any group of that name.
RCG='aml-outbound'
RCG_PRIORITY='500'
NET_PRIORITY='200'
APP_PRIORITY='400'
# NSG rules count up from here in steps of 10. Lower numbers win: keep them below any outbound deny rule.
NSG_PRIORITY='3000'

# workspace-api-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az network firewall policy rule-collection-group create \
  --resource-group "$RG" --policy-name "$POLICY" \
  --name "$RCG" --priority "$RCG_PRIORITY"
az network firewall policy rule-collection-group collection add-filter-collection \
  --resource-group "$RG" --policy-name "$POLICY" --rcg-name "$RCG" \
  --name aml-application --collection-priority "$APP_PRIORITY" --action Allow \
  --rule-name 'workspace-api-443-app' --rule-type ApplicationRule \
  --source-addresses "$SOURCE" \
  --protocols Https=443 --target-fqdns 'westeurope.api.azureml.ms'

# batch-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# batch-service-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
az network firewall policy rule-collection-group collection add-filter-collection \
  --resource-group "$RG" --policy-name "$POLICY" --rcg-name "$RCG" \
  --name aml-network --collection-priority "$NET_PRIORITY" --action Allow \
  --rule-name 'batch-443-net' --rule-type NetworkRule \
  --source-addresses "$SOURCE" \
  --ip-protocols Any --destination-addresses 'BatchNodeManagement.westeurope' \
  --destination-ports 443
az network nsg rule create \
  --resource-group "$RG" --nsg-name "$NSG" --name 'batch-443-nsg' \
  --priority "$NSG_PRIORITY" --direction Outbound --access Allow --protocol '*' \
  --source-address-prefixes VirtualNetwork --destination-address-prefixes 'BatchNodeManagement.westeurope' \
  --destination-port-ranges 443

# workspace-api-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
# batch-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# batch-service-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# Sends the tag's addresses out directly, past a default route through the firewall.
az network route-table route create \
  --resource-group "$RG" --route-table-name "$ROUTE_TABLE" \
  --name 'azuremachinelearning-route' --address-prefix 'AzureMachineLearning' --next-hop-type Internet

# workspace-api-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
# batch-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# batch-service-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# Sends the tag's addresses out directly, past a default route through the firewall.
az network route-table route create \
  --resource-group "$RG" --route-table-name "$ROUTE_TABLE" \
  --name 'batchnodemanagement-westeurope-route' --address-prefix 'BatchNodeManagement.westeurope' --next-hop-type Internet
