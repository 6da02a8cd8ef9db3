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

@description('The virtual network of the compute subnet.')
param vnetName string = 'REPLACE-vnet'

@description('The virtual network\'s resource group.')
param vnetResourceGroupName string = 'REPLACE-resource-group'

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' existing = {
  name: vnetName
  scope: resourceGroup(vnetResourceGroupName)
}

resource zone_privatelink_api_azureml_ms 'Microsoft.Network/privateDnsZones@2024-06-01' existing = {
  name: 'privatelink.api.azureml.ms'
}

// pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
// pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
resource link_amlprobe_privatelink_api_azureml_ms 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: zone_privatelink_api_azureml_ms
  name: 'amlprobe-privatelink-api-azureml-ms'
  location: 'global'
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}

// The custom DNS server (not an Azure resource) must forward these zones to Azure DNS,
// 168.63.129.16, for the private endpoints' addresses to resolve:
//   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
//   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
//   forward api.azureml.ms to 168.63.129.16
//   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
//   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
//   forward aznbcontent.net to 168.63.129.16
//   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
//   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
//   forward inference.ml.azure.com to 168.63.129.16
//   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
//   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
//   forward instances.azureml.ms to 168.63.129.16
//   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
//   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
//   forward instances.ml.azure.ms to 168.63.129.16
//   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
//   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
//   forward notebooks.azure.net to 168.63.129.16

// No rule fixes these:
//   pe-compute-instance (dns_nxdomain), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
//     No rule: ci-one.westeurope.instances.azureml.ms does not exist in DNS. Check the name (a typo, a deleted resource, or a private DNS zone linked to this VNet that lacks the record); no firewall change makes a missing name resolve.
