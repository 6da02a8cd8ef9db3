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

# batch-443 (tls_handshake_failed), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
az network firewall policy rule-collection-group collection add-filter-collection \
  --resource-group "$RESOURCE_GROUP" --policy-name "$FIREWALL_POLICY" --rcg-name "$RULE_COLLECTION_GROUP" \
  --name amlprobe-network --collection-priority 100 --action Allow \
  --rule-name 'batch-443' --rule-type NetworkRule \
  --source-addresses "$SOURCE_ADDRESSES" \
  --ip-protocols Any --destination-addresses 'BatchNodeManagement.westeurope' \
  --destination-ports 443

# Names TLS inspection must leave alone. Inspection is a Premium policy's: on a
# Premium policy these rules keep it off, as long as no group matched earlier (a
# lower priority number) inspects them. Another appliance than Azure Firewall:
# add these names to its TLS inspection bypass list.
# monitor-dc-443 (tls_intercepted), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az network firewall policy rule-collection-group collection add-filter-collection \
  --resource-group "$RESOURCE_GROUP" --policy-name "$FIREWALL_POLICY" --rcg-name "$RULE_COLLECTION_GROUP" \
  --name amlprobe-no-tls-inspection --collection-priority 150 --action Allow \
  --rule-name 'monitor-dc-443' --rule-type ApplicationRule \
  --source-addresses "$SOURCE_ADDRESSES" \
  --protocols Https=443 --target-fqdns 'dc.applicationinsights.azure.com' \
  --enable-tls-inspection false

# studio-443 (tls_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az network firewall policy rule-collection-group collection add-filter-collection \
  --resource-group "$RESOURCE_GROUP" --policy-name "$FIREWALL_POLICY" --rcg-name "$RULE_COLLECTION_GROUP" \
  --name amlprobe-application --collection-priority 200 --action Allow \
  --rule-name 'studio-443' --rule-type ApplicationRule \
  --source-addresses "$SOURCE_ADDRESSES" \
  --protocols Https=443 --target-fqdns 'ml.azure.com'

# Outbound rules from the VNet, priorities from 3000 up: before a catch-all deny.

# batch-443 (tls_handshake_failed), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
az network nsg rule create \
  --resource-group "$RESOURCE_GROUP" --nsg-name "$NSG" --name 'amlprobe-batch-443' \
  --priority 3000 --direction Outbound --access Allow --protocol '*' \
  --source-address-prefixes VirtualNetwork --destination-address-prefixes 'BatchNodeManagement.westeurope' \
  --destination-port-ranges 443

# No rule fixes these:
#   graph-443 (tls_expired), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
#     Check the node's clock (timedatectl); if it is right, the server or an inspecting middlebox presents an expired certificate.
#   arm-443 (tls_name_mismatch), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
#     The server answering for management.azure.com presents a certificate for another name: the name resolves to the wrong server (DNS or private endpoint record) or a middlebox answers in its place.
#   mcr-443 (tls_untrusted), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
#     The node does not trust the certificate's issuer: if a firewall re-signs TLS, exempt Azure ML traffic from TLS inspection (Azure ML does not support it); else update the CA bundle or pass --ca-file.
#   monitor-vs-443 (tls_untrusted), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
#     The node does not trust the certificate's issuer: if a firewall re-signs TLS, exempt Azure ML traffic from TLS inspection (Azure ML does not support it); else update the CA bundle or pass --ca-file.

# Make sure these exist (the node could not tell whether they are missing, so they are
# not added here):
#   firewall network rule and NSG outbound rule: UDP 5831 to service tag AzureMachineLearning
#     tundra-udp-5831 (udp_no_reply), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
