#!/usr/bin/env bash
# amlprobe fix: the rules that make the report's checks pass, as Azure CLI commands.
# Report from the Azure public cloud, region westeurope.
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
# The network security group of the compute subnet.
NSG='REPLACE-nsg'

# One rule collection group for all the rules below. Network rules are matched before
# application rules.
az network firewall policy rule-collection-group create \
  --resource-group "$RESOURCE_GROUP" --policy-name "$FIREWALL_POLICY" \
  --name "$RULE_COLLECTION_GROUP" --priority "$RULE_COLLECTION_GROUP_PRIORITY"

# vscode-instance-8710 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az network firewall policy rule-collection-group collection add-filter-collection \
  --resource-group "$RESOURCE_GROUP" --policy-name "$FIREWALL_POLICY" --rcg-name "$RULE_COLLECTION_GROUP" \
  --name amlprobe-network --collection-priority 100 --action Allow \
  --rule-name 'vscode-instance-8710' --rule-type NetworkRule \
  --source-addresses "$SOURCE_ADDRESSES" \
  --ip-protocols TCP --destination-addresses 'AzureMachineLearning' \
  --destination-ports 8710

# Outbound rules from the VNet, priorities from 3000 up: before a catch-all deny.

# vscode-instance-8710 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az network nsg rule create \
  --resource-group "$RESOURCE_GROUP" --nsg-name "$NSG" --name 'amlprobe-vscode-instance-8710' \
  --priority 3000 --direction Outbound --access Allow --protocol 'Tcp' \
  --source-address-prefixes VirtualNetwork --destination-address-prefixes 'AzureMachineLearning' \
  --destination-port-ranges 8710
