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

# batch-443 (tls_handshake_failed), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
az ml workspace outbound-rule set \
  --resource-group "$RESOURCE_GROUP" --workspace-name "$WORKSPACE" --rule 'amlprobe-batch-443' \
  --type service_tag --service-tag 'BatchNodeManagement.westeurope' \
  --protocol '*' --port-ranges 443

# monitor-dc-443 (tls_intercepted), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
# The firewall of a managed network (Standard or Basic) does not inspect TLS. If dc.applicationinsights.azure.com (port 443) is inspected, it is by a firewall or proxy of yours: exempt it there.

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
