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
          // instances-8787 (tcp_refused), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
          {
            ruleType: 'NetworkRule'
            name: 'instances-8787'
            ipProtocols: [
              'TCP'
            ]
            sourceAddresses: sourceAddresses
            destinationAddresses: [
              'AzureMachineLearning'
            ]
            destinationPorts: [
              '8787'
            ]
          }
          // tundra-udp-5831 (udp_unreachable), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
          {
            ruleType: 'NetworkRule'
            name: 'tundra-udp-5831'
            ipProtocols: [
              'UDP'
            ]
            sourceAddresses: sourceAddresses
            destinationAddresses: [
              'AzureMachineLearning'
            ]
            destinationPorts: [
              '5831'
            ]
          }
          // batch-443 (tcp_unreachable), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
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
          // graph-443 (tcp_refused), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
          {
            ruleType: 'ApplicationRule'
            name: 'graph-443'
            protocols: [
              {
                protocolType: 'Https'
                port: 443
              }
            ]
            sourceAddresses: sourceAddresses
            targetFqdns: [
              'graph.windows.net'
            ]
          }
          // arm-443 (tcp_unreachable), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
          {
            ruleType: 'ApplicationRule'
            name: 'arm-443'
            protocols: [
              {
                protocolType: 'Https'
                port: 443
              }
            ]
            sourceAddresses: sourceAddresses
            targetFqdns: [
              'management.azure.com'
            ]
          }
          // mcr-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
          {
            ruleType: 'ApplicationRule'
            name: 'mcr-443'
            protocols: [
              {
                protocolType: 'Https'
                port: 443
              }
            ]
            sourceAddresses: sourceAddresses
            targetFqdns: [
              'mcr.microsoft.com'
            ]
          }
          // pypi-443 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
          {
            ruleType: 'ApplicationRule'
            name: 'pypi-443'
            protocols: [
              {
                protocolType: 'Https'
                port: 443
              }
            ]
            sourceAddresses: sourceAddresses
            targetFqdns: [
              'pypi.org'
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

// instances-8787 (tcp_refused), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
resource nsgRule_amlprobe_instances_8787 'Microsoft.Network/networkSecurityGroups/securityRules@2024-05-01' = {
  parent: nsg
  name: 'amlprobe-instances-8787'
  properties: {
    priority: 3000
    direction: 'Outbound'
    access: 'Allow'
    protocol: 'Tcp'
    sourceAddressPrefix: 'VirtualNetwork'
    sourcePortRange: '*'
    destinationAddressPrefix: 'AzureMachineLearning'
    destinationPortRange: '8787'
  }
}

// tundra-udp-5831 (udp_unreachable), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
resource nsgRule_amlprobe_tundra_udp_5831 'Microsoft.Network/networkSecurityGroups/securityRules@2024-05-01' = {
  parent: nsg
  name: 'amlprobe-tundra-udp-5831'
  properties: {
    priority: 3010
    direction: 'Outbound'
    access: 'Allow'
    protocol: 'Udp'
    sourceAddressPrefix: 'VirtualNetwork'
    sourcePortRange: '*'
    destinationAddressPrefix: 'AzureMachineLearning'
    destinationPortRange: '5831'
  }
  dependsOn: [
    nsgRule_amlprobe_instances_8787
  ]
}

// batch-443 (tcp_unreachable), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
resource nsgRule_amlprobe_batch_443 'Microsoft.Network/networkSecurityGroups/securityRules@2024-05-01' = {
  parent: nsg
  name: 'amlprobe-batch-443'
  properties: {
    priority: 3020
    direction: 'Outbound'
    access: 'Allow'
    protocol: '*'
    sourceAddressPrefix: 'VirtualNetwork'
    sourcePortRange: '*'
    destinationAddressPrefix: 'BatchNodeManagement.westeurope'
    destinationPortRange: '443'
  }
  dependsOn: [
    nsgRule_amlprobe_tundra_udp_5831
  ]
}
