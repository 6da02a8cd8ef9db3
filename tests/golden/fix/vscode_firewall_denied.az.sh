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

# One rule collection group for all the rules below. Network rules are matched before
# application rules.
az network firewall policy rule-collection-group create \
  --resource-group "$RESOURCE_GROUP" --policy-name "$FIREWALL_POLICY" \
  --name "$RULE_COLLECTION_GROUP" --priority "$RULE_COLLECTION_GROUP_PRIORITY"

# vscode-marketplace-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az network firewall policy rule-collection-group collection add-filter-collection \
  --resource-group "$RESOURCE_GROUP" --policy-name "$FIREWALL_POLICY" --rcg-name "$RULE_COLLECTION_GROUP" \
  --name amlprobe-application --collection-priority 200 --action Allow \
  --rule-name 'vscode-marketplace-443' --rule-type ApplicationRule \
  --source-addresses "$SOURCE_ADDRESSES" \
  --protocols Https=443 --target-fqdns 'marketplace.visualstudio.com'

# vscode-update-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az network firewall policy rule-collection-group collection rule add \
  --resource-group "$RESOURCE_GROUP" --policy-name "$FIREWALL_POLICY" --rcg-name "$RULE_COLLECTION_GROUP" \
  --collection-name amlprobe-application --name 'vscode-update-443' --rule-type ApplicationRule \
  --source-addresses "$SOURCE_ADDRESSES" \
  --protocols Https=443 --target-fqdns 'update.code.visualstudio.com'
