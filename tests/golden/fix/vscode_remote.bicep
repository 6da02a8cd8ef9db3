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
          // vscode-instance-8710 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
          {
            ruleType: 'NetworkRule'
            name: 'vscode-instance-8710'
            ipProtocols: [
              'TCP'
            ]
            sourceAddresses: sourceAddresses
            destinationAddresses: [
              'AzureMachineLearning'
            ]
            destinationPorts: [
              '8710'
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

// vscode-instance-8710 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
resource nsgRule_amlprobe_vscode_instance_8710 'Microsoft.Network/networkSecurityGroups/securityRules@2024-05-01' = {
  parent: nsg
  name: 'amlprobe-vscode-instance-8710'
  properties: {
    priority: 3000
    direction: 'Outbound'
    access: 'Allow'
    protocol: 'Tcp'
    sourceAddressPrefix: 'VirtualNetwork'
    sourcePortRange: '*'
    destinationAddressPrefix: 'AzureMachineLearning'
    destinationPortRange: '8710'
  }
}
