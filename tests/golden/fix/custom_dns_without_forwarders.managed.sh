#!/usr/bin/env bash
# amlprobe fix: the rules that make the report's checks pass, as Azure ML managed network outbound rules.
# Report from the Azure public cloud, region westeurope.
# Read each command before running it, and set every REPLACE- value first. Setting a rule that is there already updates it.
set -euo pipefail

# pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# Azure ML makes the private endpoints of a managed network and their DNS records itself, so the managed network needs no forwarding for api.azureml.ms.
# A custom DNS server in a network of your own, where clients reach the workspace, still forwards api.azureml.ms to Azure DNS, 168.63.129.16.

# pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# Azure ML makes the private endpoints of a managed network and their DNS records itself, so the managed network needs no forwarding for aznbcontent.net.
# A custom DNS server in a network of your own, where clients reach the workspace, still forwards aznbcontent.net to Azure DNS, 168.63.129.16.

# pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# Azure ML makes the private endpoints of a managed network and their DNS records itself, so the managed network needs no forwarding for inference.ml.azure.com.
# A custom DNS server in a network of your own, where clients reach the workspace, still forwards inference.ml.azure.com to Azure DNS, 168.63.129.16.

# pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# Azure ML makes the private endpoints of a managed network and their DNS records itself, so the managed network needs no forwarding for instances.azureml.ms.
# A custom DNS server in a network of your own, where clients reach the workspace, still forwards instances.azureml.ms to Azure DNS, 168.63.129.16.

# pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# Azure ML makes the private endpoints of a managed network and their DNS records itself, so the managed network needs no forwarding for instances.ml.azure.ms.
# A custom DNS server in a network of your own, where clients reach the workspace, still forwards instances.ml.azure.ms to Azure DNS, 168.63.129.16.

# pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# Azure ML makes the private endpoints of a managed network and their DNS records itself, so the managed network needs no forwarding for notebooks.azure.net.
# A custom DNS server in a network of your own, where clients reach the workspace, still forwards notebooks.azure.net to Azure DNS, 168.63.129.16.

# pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# Azure ML links the private DNS zones of a managed network itself. privatelink.api.azureml.ms needs a link only to a VNet of your own, where clients reach the workspace (see --format az).

# No rule fixes these:
#   pe-compute-instance (dns_nxdomain), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#     No rule: ci-one.westeurope.instances.azureml.ms does not exist in DNS. Check the name (a typo, a deleted resource, or a private DNS zone linked to this VNet that lacks the record); no firewall change makes a missing name resolve.
