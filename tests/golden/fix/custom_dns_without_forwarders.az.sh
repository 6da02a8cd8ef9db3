#!/usr/bin/env bash
# Azure CLI changes that would make the failing checks of an amlprobe report pass (cloud public, region westeurope).
# Read each command before running it, and set every REPLACE- value first. Meant to run once: a rule that is already there makes its command fail.
set -euo pipefail

# The resources to change. One resource group stands for all of them: where one lives elsewhere, change that command's --resource-group.
RG='REPLACE-resource-group'
VNET='REPLACE-vnet'

# pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# The custom DNS server must forward api.azureml.ms to Azure DNS, 168.63.129.16. The server is not an Azure resource, so there is no command for it.
# 168.63.129.16 answers only inside Azure: a server outside forwards to a DNS resolver (or DNS server) in the VNet instead.

# pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# The custom DNS server must forward aznbcontent.net to Azure DNS, 168.63.129.16. The server is not an Azure resource, so there is no command for it.
# 168.63.129.16 answers only inside Azure: a server outside forwards to a DNS resolver (or DNS server) in the VNet instead.

# pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# The custom DNS server must forward inference.ml.azure.com to Azure DNS, 168.63.129.16. The server is not an Azure resource, so there is no command for it.
# 168.63.129.16 answers only inside Azure: a server outside forwards to a DNS resolver (or DNS server) in the VNet instead.

# pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# The custom DNS server must forward instances.azureml.ms to Azure DNS, 168.63.129.16. The server is not an Azure resource, so there is no command for it.
# 168.63.129.16 answers only inside Azure: a server outside forwards to a DNS resolver (or DNS server) in the VNet instead.

# pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# The custom DNS server must forward instances.ml.azure.ms to Azure DNS, 168.63.129.16. The server is not an Azure resource, so there is no command for it.
# 168.63.129.16 answers only inside Azure: a server outside forwards to a DNS resolver (or DNS server) in the VNet instead.

# pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# The custom DNS server must forward notebooks.azure.net to Azure DNS, 168.63.129.16. The server is not an Azure resource, so there is no command for it.
# 168.63.129.16 answers only inside Azure: a server outside forwards to a DNS resolver (or DNS server) in the VNet instead.

# pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# --resource-group is the zone's. --virtual-network takes the VNet's full resource ID when the VNet is in another resource group.
az network private-dns link vnet create \
  --resource-group "$RG" --zone-name 'privatelink.api.azureml.ms' --name 'privatelink-api-azureml-ms-link' \
  --virtual-network "$VNET" --registration-enabled false

# No rule fixes these:
# pe-compute-instance (dns_nxdomain), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   No rule: ci-one.westeurope.instances.azureml.ms does not exist in DNS. Check the name (a typo, a deleted resource, or a private DNS zone linked to this VNet that lacks the record); no firewall change makes a missing name resolve.
