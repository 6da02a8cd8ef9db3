#!/usr/bin/env bash
# amlprobe fix: the rules that make the report's checks pass, as Azure CLI commands.
# Report from the Azure public cloud, region westeurope, compute with no public IP.
# Read each command before running it, and set every REPLACE- value first. Meant to run once: a rule that is already there makes its command fail.
set -euo pipefail

# The resource group of the resources below: where one is in another, change that command's --resource-group.
RESOURCE_GROUP='REPLACE-resource-group'
# The firewall policy that gets the rule collection group.
FIREWALL_POLICY='REPLACE-firewall-policy'
# A rule collection group of the policy's that does not exist yet.
RULE_COLLECTION_GROUP='amlprobe-fix'
# Its priority (100-65000): lower numbers are matched first.
RULE_COLLECTION_GROUP_PRIORITY='300'
# The address ranges of the compute subnet, as the firewall sees them.
SOURCE_ADDRESSES='REPLACE-subnet-address-range'
# The virtual network of the compute subnet.
VNET='REPLACE-vnet'

# One rule collection group for all the rules below. Network rules are matched before
# application rules.
az network firewall policy rule-collection-group create \
  --resource-group "$RESOURCE_GROUP" --policy-name "$FIREWALL_POLICY" \
  --name "$RULE_COLLECTION_GROUP" --priority "$RULE_COLLECTION_GROUP_PRIORITY"

# acr-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az network firewall policy rule-collection-group collection add-filter-collection \
  --resource-group "$RESOURCE_GROUP" --policy-name "$FIREWALL_POLICY" --rcg-name "$RULE_COLLECTION_GROUP" \
  --name amlprobe-application --collection-priority 200 --action Allow \
  --rule-name 'acr-443' --rule-type ApplicationRule \
  --source-addresses "$SOURCE_ADDRESSES" \
  --protocols Https=443 --target-fqdns 'myacr.azurecr.io'

# pe-acr (dns_public_address), https://learn.microsoft.com/azure/container-registry/container-registry-private-link
# --resource-group is the zone's. --virtual-network takes the VNet's full resource ID when the VNet is in another resource group.
az network private-dns link vnet create \
  --resource-group "$RESOURCE_GROUP" --zone-name 'privatelink.azurecr.io' --name 'amlprobe-privatelink-azurecr-io' \
  --virtual-network "$VNET" --registration-enabled false

# The custom DNS server (not an Azure resource) must forward these zones to Azure DNS,
# 168.63.129.16, for the private endpoints' addresses to resolve:
#   pe-acr (dns_public_address), https://learn.microsoft.com/azure/container-registry/container-registry-private-link
#   forward azurecr.io to 168.63.129.16
