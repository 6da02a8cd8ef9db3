// amlprobe fix: the rules that make the report's checks pass, as Bicep.
// Report from the Azure public cloud, region westeurope, compute with a public IP.
//
// Deploy into the resource group that holds the firewall policy, NSG, route table and
// private DNS zones below:
//   az deployment group create --resource-group REPLACE-resource-group --template-file fix.bicep
// It adds rules to resources that exist and creates none of them. Values starting
// REPLACE- are placeholders: set those parameters (--parameters NAME=VALUE) first.
// Where the resources are in different resource groups, deploy once into each, keeping
// the part for that group.

targetScope = 'resourceGroup'

@description('The firewall policy that gets the rule collection group.')
param firewallPolicyName string = 'REPLACE-firewall-policy'

@description('A rule collection group of the policy\'s that does not exist yet.')
param ruleCollectionGroupName string = 'amlprobe-fix'

@description('Its priority (100-65000): lower numbers are matched first.')
param ruleCollectionGroupPriority int = 300

@description('The address ranges of the compute subnet, as the firewall sees them.')
param sourceAddresses array = [
  'REPLACE-subnet-address-range'
]

@description('The network security group of the compute subnet.')
param nsgName string = 'REPLACE-nsg'

@description('The route table of the compute subnet.')
param routeTableName string = 'REPLACE-route-table'

resource firewallPolicy 'Microsoft.Network/firewallPolicies@2024-05-01' existing = {
  name: firewallPolicyName
}

// One rule collection group for all the rules below. Network rules are matched before
// application rules.
resource ruleCollectionGroup 'Microsoft.Network/firewallPolicies/ruleCollectionGroups@2024-05-01' = {
  parent: firewallPolicy
  name: ruleCollectionGroupName
  properties: {
    priority: ruleCollectionGroupPriority
    ruleCollections: [
      {
        ruleCollectionType: 'FirewallPolicyFilterRuleCollection'
        name: 'amlprobe-network'
        priority: 100
        action: {
          type: 'Allow'
        }
        rules: [
          // batch-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
          // batch-service-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
          {
            ruleType: 'NetworkRule'
            name: 'batch-443'
            ipProtocols: [
              'Any'
            ]
            sourceAddresses: sourceAddresses
            destinationAddresses: [
              'BatchNodeManagement.westeurope'
            ]
            destinationPorts: [
              '443'
            ]
          }
        ]
      }
      {
        ruleCollectionType: 'FirewallPolicyFilterRuleCollection'
        name: 'amlprobe-application'
        priority: 200
        action: {
          type: 'Allow'
        }
        rules: [
          // workspace-api-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
          {
            ruleType: 'ApplicationRule'
            name: 'workspace-api-443'
            protocols: [
              {
                protocolType: 'Https'
                port: 443
              }
            ]
            sourceAddresses: sourceAddresses
            targetFqdns: [
              'westeurope.api.azureml.ms'
            ]
          }
        ]
      }
    ]
  }
}

resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' existing = {
  name: nsgName
}

// Outbound rules from the VNet, priorities from 3000 up: before a catch-all deny.
// Each waits for the one before, as an NSG takes one change at a time.

// batch-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
// batch-service-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
resource nsgRule_amlprobe_batch_443 'Microsoft.Network/networkSecurityGroups/securityRules@2024-05-01' = {
  parent: nsg
  name: 'amlprobe-batch-443'
  properties: {
    priority: 3000
    direction: 'Outbound'
    access: 'Allow'
    protocol: '*'
    sourceAddressPrefix: 'VirtualNetwork'
    sourcePortRange: '*'
    destinationAddressPrefix: 'BatchNodeManagement.westeurope'
    destinationPortRange: '443'
  }
}

resource routeTable 'Microsoft.Network/routeTables@2024-05-01' existing = {
  name: routeTableName
}

// These service tags go straight out, past the default route through the firewall.

// workspace-api-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
// batch-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
// batch-service-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
resource route_amlprobe_AzureMachineLearning 'Microsoft.Network/routeTables/routes@2024-05-01' = {
  parent: routeTable
  name: 'amlprobe-AzureMachineLearning'
  properties: {
    addressPrefix: 'AzureMachineLearning'
    nextHopType: 'Internet'
  }
}

// workspace-api-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
// batch-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
// batch-service-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
resource route_amlprobe_BatchNodeManagement_westeurope 'Microsoft.Network/routeTables/routes@2024-05-01' = {
  parent: routeTable
  name: 'amlprobe-BatchNodeManagement-westeurope'
  properties: {
    addressPrefix: 'BatchNodeManagement.westeurope'
    nextHopType: 'Internet'
  }
  dependsOn: [
    route_amlprobe_AzureMachineLearning
  ]
}
