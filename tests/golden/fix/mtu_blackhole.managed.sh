#!/usr/bin/env bash
# amlprobe fix: the rules that make the report's checks pass, as Azure ML managed network outbound rules.
# Report from the Azure public cloud, region westeurope.
# Read each command before running it, and set every REPLACE- value first. Setting a rule that is there already updates it.
set -euo pipefail

# The workspace whose managed network the rules are for.
RESOURCE_GROUP='REPLACE-resource-group'
WORKSPACE='REPLACE-workspace'

# Azure ML adds the rules its own services need (the AzureMachineLearning and BatchNodeManagement tags among them) by itself. To see what is there:
# az ml workspace outbound-rule list --resource-group "$RESOURCE_GROUP" --workspace-name "$WORKSPACE"

# studio-443 (tls_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
# An fqdn rule makes Azure ML add a managed Azure Firewall to the network, which is billed.
az ml workspace outbound-rule set \
  --resource-group "$RESOURCE_GROUP" --workspace-name "$WORKSPACE" --rule 'amlprobe-studio-443' \
  --type fqdn --destination 'ml.azure.com'

# No rule fixes these:
#   entra-443 (mtu_blackhole), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
#     Packets to this node from login.microsoftonline.com larger than the path's MTU are dropped, and the ICMP "fragmentation needed" that would make the sender shrink them never arrives: a VPN or ExpressRoute tunnel, a VPN gateway or an NVA (firewall) on a forced-tunnel route. Clamp the TCP MSS on that device's tunnel or interface to what its MTU carries (for Azure VPN Gateway, clamp TCP MSS at 1350 bytes on the on-premises VPN device, or set the tunnel interface's MTU to 1400: https://learn.microsoft.com/azure/vpn-gateway/vpn-gateway-about-vpn-devices#ipsec), and let ICMP type 3 code 4 (fragmentation needed) through every firewall on the path. No firewall rule for login.microsoftonline.com fixes this; lowering the node's own MTU only works around it.

# Make sure these exist (the node could not tell whether they are missing, so they are
# not added here):
#   firewall network rule and NSG outbound rule: UDP 5831 to service tag AzureMachineLearning
#     tundra-udp-5831 (udp_no_reply), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
