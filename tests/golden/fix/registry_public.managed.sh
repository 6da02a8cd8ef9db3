#!/usr/bin/env bash
# amlprobe fix: the rules that make the report's checks pass, as Azure ML managed network outbound rules.
# Report from the Azure public cloud, region westeurope, compute with no public IP.
# Read each command before running it, and set every REPLACE- value first. Setting a rule that is there already updates it.
set -euo pipefail

# The workspace whose managed network the rules are for.
RESOURCE_GROUP='REPLACE-resource-group'
WORKSPACE='REPLACE-workspace'

# Azure ML adds the rules its own services need (the AzureMachineLearning and BatchNodeManagement tags among them) by itself. To see what is there:
# az ml workspace outbound-rule list --resource-group "$RESOURCE_GROUP" --workspace-name "$WORKSPACE"

# acr-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
# An fqdn rule makes Azure ML add a managed Azure Firewall to the network, which is billed.
az ml workspace outbound-rule set \
  --resource-group "$RESOURCE_GROUP" --workspace-name "$WORKSPACE" --rule 'amlprobe-acr-443' \
  --type fqdn --destination 'myacr.azurecr.io'

# pe-acr (dns_public_address), https://learn.microsoft.com/azure/container-registry/container-registry-private-link
# Azure ML makes the private endpoints of a managed network and their DNS records itself, so the managed network needs no forwarding for azurecr.io.
# A custom DNS server in a network of your own, where clients reach the workspace, still forwards azurecr.io to Azure DNS, 168.63.129.16.

# pe-acr (dns_public_address), https://learn.microsoft.com/azure/container-registry/container-registry-private-link
# Azure ML links the private DNS zones of a managed network itself. privatelink.azurecr.io needs a link only to a VNet of your own, where clients reach the workspace (see --format az).
