#!/usr/bin/env bash
# amlprobe fix: the rules that make the report's checks pass, as Azure CLI commands.
# Report from the Azure public cloud, region westeurope.
# Read each command before running it, and set every REPLACE- value first. Meant to run once: a rule that is already there makes its command fail.
set -euo pipefail

# The resource group of the resources below: where one is in another, change that command's --resource-group.
RESOURCE_GROUP='REPLACE-resource-group'
# The virtual network of the compute subnet.
VNET='REPLACE-vnet'
# The compute subnet.
SUBNET='REPLACE-subnet'

# storage-blob-443 (storage_firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# storage-table-443 (storage_firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# The storage account amlstore1 must let the compute subnet in through its own
# firewall, and the subnet needs the Microsoft.Storage service endpoint (added to the
# endpoints it has). Or reach the account through a private endpoint instead, with its
# privatelink zones linked to the VNet.
# --service-endpoints sets the subnet's whole list: add any it has already (az network vnet subnet show --query serviceEndpoints).
az network vnet subnet update \
  --resource-group "$RESOURCE_GROUP" --vnet-name "$VNET" --name "$SUBNET" \
  --service-endpoints Microsoft.Storage
# --resource-group is the account's; for a VNet in another resource group, give --subnet the subnet's full resource ID instead of --vnet-name.
az storage account network-rule add \
  --resource-group "$RESOURCE_GROUP" --account-name 'amlstore1' \
  --vnet-name "$VNET" --subnet "$SUBNET"
