#!/usr/bin/env bash
# Azure CLI changes that would make the failing checks of an amlprobe report pass (cloud public, region westeurope).
# Read each command before running it, and set every REPLACE- value first. Meant to run once: a rule that is already there makes its command fail.
set -euo pipefail

# The resources to change. One resource group stands for all of them: where one lives elsewhere, change that command's --resource-group.
RG='REPLACE-resource-group'
POLICY='REPLACE-firewall-policy'
NSG='REPLACE-nsg'
# The compute subnet's address range, where the firewall rules allow traffic from (az network vnet subnet show --query addressPrefix shows it).
SOURCE='REPLACE-subnet-address-range'
# A rule collection group of its own: creating it replaces any group of that name.
RCG='aml-outbound'
RCG_PRIORITY='500'
NET_PRIORITY='200'
APP_PRIORITY='400'
# NSG rules count up from here in steps of 10. Lower numbers win: keep them below any outbound deny rule.
NSG_PRIORITY='3000'

# graph-443 (tcp_refused), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
az network firewall policy rule-collection-group create \
  --resource-group "$RG" --policy-name "$POLICY" \
  --name "$RCG" --priority "$RCG_PRIORITY"
az network firewall policy rule-collection-group collection add-filter-collection \
  --resource-group "$RG" --policy-name "$POLICY" --rcg-name "$RCG" \
  --name aml-application --collection-priority "$APP_PRIORITY" --action Allow \
  --rule-name 'graph-443-app' --rule-type ApplicationRule \
  --source-addresses "$SOURCE" \
  --protocols Https=443 --target-fqdns 'graph.windows.net'

# arm-443 (tcp_unreachable), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az network firewall policy rule-collection-group collection rule add \
  --resource-group "$RG" --policy-name "$POLICY" --rcg-name "$RCG" \
  --collection-name aml-application --name 'arm-443-app' --rule-type ApplicationRule \
  --source-addresses "$SOURCE" \
  --protocols Https=443 --target-fqdns 'management.azure.com'

# mcr-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az network firewall policy rule-collection-group collection rule add \
  --resource-group "$RG" --policy-name "$POLICY" --rcg-name "$RCG" \
  --collection-name aml-application --name 'mcr-443-app' --rule-type ApplicationRule \
  --source-addresses "$SOURCE" \
  --protocols Https=443 --target-fqdns 'mcr.microsoft.com'

# pypi-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az network firewall policy rule-collection-group collection rule add \
  --resource-group "$RG" --policy-name "$POLICY" --rcg-name "$RCG" \
  --collection-name aml-application --name 'pypi-443-app' --rule-type ApplicationRule \
  --source-addresses "$SOURCE" \
  --protocols Https=443 --target-fqdns 'pypi.org'

# instances-8787 (tcp_refused), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az network firewall policy rule-collection-group collection add-filter-collection \
  --resource-group "$RG" --policy-name "$POLICY" --rcg-name "$RCG" \
  --name aml-network --collection-priority "$NET_PRIORITY" --action Allow \
  --rule-name 'instances-8787-net' --rule-type NetworkRule \
  --source-addresses "$SOURCE" \
  --ip-protocols TCP --destination-addresses 'AzureMachineLearning' \
  --destination-ports 8787
az network nsg rule create \
  --resource-group "$RG" --nsg-name "$NSG" --name 'instances-8787-nsg' \
  --priority "$NSG_PRIORITY" --direction Outbound --access Allow --protocol Tcp \
  --source-address-prefixes VirtualNetwork --destination-address-prefixes 'AzureMachineLearning' \
  --destination-port-ranges 8787

# tundra-udp-5831 (udp_unreachable), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
az network firewall policy rule-collection-group collection rule add \
  --resource-group "$RG" --policy-name "$POLICY" --rcg-name "$RCG" \
  --collection-name aml-network --name 'tundra-udp-5831-net' --rule-type NetworkRule \
  --source-addresses "$SOURCE" \
  --ip-protocols UDP --destination-addresses 'AzureMachineLearning' \
  --destination-ports 5831
az network nsg rule create \
  --resource-group "$RG" --nsg-name "$NSG" --name 'tundra-udp-5831-nsg' \
  --priority "$((NSG_PRIORITY + 10))" --direction Outbound --access Allow --protocol Udp \
  --source-address-prefixes VirtualNetwork --destination-address-prefixes 'AzureMachineLearning' \
  --destination-port-ranges 5831

# batch-443 (tcp_unreachable), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
az network firewall policy rule-collection-group collection rule add \
  --resource-group "$RG" --policy-name "$POLICY" --rcg-name "$RCG" \
  --collection-name aml-network --name 'batch-443-net' --rule-type NetworkRule \
  --source-addresses "$SOURCE" \
  --ip-protocols Any --destination-addresses 'BatchNodeManagement.westeurope' \
  --destination-ports 443
az network nsg rule create \
  --resource-group "$RG" --nsg-name "$NSG" --name 'batch-443-nsg' \
  --priority "$((NSG_PRIORITY + 20))" --direction Outbound --access Allow --protocol '*' \
  --source-address-prefixes VirtualNetwork --destination-address-prefixes 'BatchNodeManagement.westeurope' \
  --destination-port-ranges 443
