#!/usr/bin/env bash
# Azure CLI changes that would make the failing checks of an amlprobe report pass (cloud public, region westeurope).
# Read each command before running it, and set every REPLACE- value first. Meant to run once: a rule that is already there makes its command fail.
set -euo pipefail

# The resources to change. One resource group stands for all of them: where one lives elsewhere, change that command's --resource-group.
RG='REPLACE-resource-group'
VNET='REPLACE-vnet'
SUBNET='REPLACE-subnet'

# storage-blob-443 (storage_firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# storage-table-443 (storage_firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# A service endpoint lets the subnet past the account's firewall with no DNS change; a private endpoint instead gives the account an address in the VNet.
# --service-endpoints sets the subnet's whole list: add any it has already (az network vnet subnet show --query serviceEndpoints).
az network vnet subnet update \
  --resource-group "$RG" --vnet-name "$VNET" --name "$SUBNET" \
  --service-endpoints Microsoft.Storage
# --resource-group is the account's; for a VNet in another resource group, give --subnet the subnet's full resource ID instead of --vnet-name.
az storage account network-rule add \
  --resource-group "$RG" --account-name 'amlstore1' \
  --vnet-name "$VNET" --subnet "$SUBNET"
