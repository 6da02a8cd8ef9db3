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

# studio-443 (tls_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
az network firewall policy rule-collection-group collection add-filter-collection \
  --resource-group "$RESOURCE_GROUP" --policy-name "$FIREWALL_POLICY" --rcg-name "$RULE_COLLECTION_GROUP" \
  --name amlprobe-application --collection-priority 200 --action Allow \
  --rule-name 'studio-443' --rule-type ApplicationRule \
  --source-addresses "$SOURCE_ADDRESSES" \
  --protocols Https=443 --target-fqdns 'ml.azure.com'

# No rule fixes these:
#   entra-443 (mtu_blackhole), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
#     Packets to this node from login.microsoftonline.com larger than the path's MTU are dropped, and the ICMP "fragmentation needed" that would make the sender shrink them never arrives: a VPN or ExpressRoute tunnel, a VPN gateway or an NVA (firewall) on a forced-tunnel route. Clamp the TCP MSS on that device's tunnel or interface to what its MTU carries (for Azure VPN Gateway, clamp TCP MSS at 1350 bytes on the on-premises VPN device, or set the tunnel interface's MTU to 1400: https://learn.microsoft.com/azure/vpn-gateway/vpn-gateway-about-vpn-devices#ipsec), and let ICMP type 3 code 4 (fragmentation needed) through every firewall on the path. No firewall rule for login.microsoftonline.com fixes this; lowering the node's own MTU only works around it.

# Make sure these exist (the node could not tell whether they are missing, so they are
# not added here):
#   firewall network rule and NSG outbound rule: UDP 5831 to service tag AzureMachineLearning
#     tundra-udp-5831 (udp_no_reply), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
