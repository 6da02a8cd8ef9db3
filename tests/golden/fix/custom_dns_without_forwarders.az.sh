#!/usr/bin/env bash
# amlprobe fix: the rules that make the report's checks pass, as Azure CLI commands.
# Report from the Azure public cloud, region westeurope.
# Read each command before running it, and set every REPLACE- value first. Meant to run once: a rule that is already there makes its command fail.
set -euo pipefail

# The resource group of the resources below: where one is in another, change that command's --resource-group.
RESOURCE_GROUP='REPLACE-resource-group'
# The virtual network of the compute subnet.
VNET='REPLACE-vnet'

# pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# --resource-group is the zone's. --virtual-network takes the VNet's full resource ID when the VNet is in another resource group.
az network private-dns link vnet create \
  --resource-group "$RESOURCE_GROUP" --zone-name 'privatelink.api.azureml.ms' --name 'amlprobe-privatelink-api-azureml-ms' \
  --virtual-network "$VNET" --registration-enabled false

# The custom DNS server (not an Azure resource) must forward these zones to Azure DNS,
# 168.63.129.16, for the private endpoints' addresses to resolve:
#   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   forward api.azureml.ms to 168.63.129.16
#   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   forward aznbcontent.net to 168.63.129.16
#   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   forward inference.ml.azure.com to 168.63.129.16
#   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   forward instances.azureml.ms to 168.63.129.16
#   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   forward instances.ml.azure.ms to 168.63.129.16
#   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   forward notebooks.azure.net to 168.63.129.16

# No rule fixes these:
#   pe-compute-instance (dns_nxdomain), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#     No rule: ci-one.westeurope.instances.azureml.ms does not exist in DNS. Check the name (a typo, a deleted resource, or a private DNS zone linked to this VNet that lacks the record); no firewall change makes a missing name resolve.
