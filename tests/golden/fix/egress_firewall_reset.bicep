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
        name: 'amlprobe-application'
        priority: 200
        action: {
          type: 'Allow'
        }
        rules: [
          // batch-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
          {
            ruleType: 'ApplicationRule'
            name: 'batch-443'
            protocols: [
              {
                protocolType: 'Https'
                port: 443
              }
            ]
            sourceAddresses: sourceAddresses
            targetFqdns: [
              '*.westeurope.batch.azure.com'
            ]
          }
          // graph-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
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
          // entra-80 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
          {
            ruleType: 'ApplicationRule'
            name: 'entra-80'
            protocols: [
              {
                protocolType: 'Http'
                port: 80
              }
            ]
            sourceAddresses: sourceAddresses
            targetFqdns: [
              'login.microsoftonline.com'
            ]
          }
          // entra-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
          {
            ruleType: 'ApplicationRule'
            name: 'entra-443'
            protocols: [
              {
                protocolType: 'Https'
                port: 443
              }
            ]
            sourceAddresses: sourceAddresses
            targetFqdns: [
              'login.microsoftonline.com'
            ]
          }
        ]
      }
    ]
  }
}

// Make sure these exist (the node could not tell whether they are missing, so they are
// not added here):
//   firewall network rule and NSG outbound rule: UDP 5831 to service tag AzureMachineLearning
//     tundra-udp-5831 (udp_no_reply), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
