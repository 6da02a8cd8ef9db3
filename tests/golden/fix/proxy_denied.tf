# amlprobe fix: the rules that make the report's checks pass, as Terraform (azurerm).
# Report from the Azure public cloud, region westeurope.
# Nothing to declare in Azure: the changes below are made outside it.

# The HTTP proxy (not an Azure resource) must allow CONNECT to:
#   graph-443 (proxy_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
#   CONNECT graph.windows.net:443
