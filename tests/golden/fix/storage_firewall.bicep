// amlprobe fix: the rules that make the report's checks pass, as Bicep.
// Report from the Azure public cloud, region westeurope.
//
// Deploy into the resource group that holds the firewall policy, NSG, route table and
// private DNS zones below:
//   az deployment group create --resource-group REPLACE-resource-group --template-file fix.bicep
// It adds rules to resources that exist and creates none of them. Values starting
// REPLACE- are placeholders: set those parameters (--parameters NAME=VALUE) first.
// Where the resources are in different resource groups, deploy once into each, keeping
// the part for that group.

targetScope = 'resourceGroup'

// storage-blob-443 (storage_firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
// storage-table-443 (storage_firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
// The storage account amlstore1 must let the compute subnet in through its own
// firewall, and the subnet needs the Microsoft.Storage service endpoint (added to the
// endpoints it has). Or reach the account through a private endpoint instead, with its
// privatelink zones linked to the VNet.
// Not declared: the rule belongs to the account's properties.networkAcls, which a
// deployment writes whole, with the rest of the account. Where the account is declared
// in a template, add the subnet to networkAcls.virtualNetworkRules there. Otherwise the
// Azure CLI adds the one rule and keeps the others:
//   az storage account network-rule add --resource-group REPLACE-resource-group --account-name amlstore1 --vnet-name REPLACE-vnet --subnet REPLACE-subnet
