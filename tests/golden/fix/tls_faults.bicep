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
          // batch-443 (tls_handshake_failed), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
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
      // Names TLS inspection must leave alone. Inspection is a Premium policy's: on a
      // Premium policy these rules keep it off, as long as no group matched earlier (a
      // lower priority number) inspects them. Another appliance than Azure Firewall:
      // add these names to its TLS inspection bypass list.
      {
        ruleCollectionType: 'FirewallPolicyFilterRuleCollection'
        name: 'amlprobe-no-tls-inspection'
        priority: 150
        action: {
          type: 'Allow'
        }
        rules: [
          // monitor-dc-443 (tls_intercepted), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
          {
            ruleType: 'ApplicationRule'
            name: 'monitor-dc-443'
            protocols: [
              {
                protocolType: 'Https'
                port: 443
              }
            ]
            sourceAddresses: sourceAddresses
            targetFqdns: [
              'dc.applicationinsights.azure.com'
            ]
            terminateTLS: false
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
          // studio-443 (tls_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
          {
            ruleType: 'ApplicationRule'
            name: 'studio-443'
            protocols: [
              {
                protocolType: 'Https'
                port: 443
              }
            ]
            sourceAddresses: sourceAddresses
            targetFqdns: [
              'ml.azure.com'
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

// batch-443 (tls_handshake_failed), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
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

// No rule fixes these:
//   graph-443 (tls_expired), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
//     Check the node's clock (timedatectl); if it is right, the server or an inspecting middlebox presents an expired certificate.
//   arm-443 (tls_name_mismatch), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
//     The server answering for management.azure.com presents a certificate for another name: the name resolves to the wrong server (DNS or private endpoint record) or a middlebox answers in its place.
//   mcr-443 (tls_untrusted), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
//     The node does not trust the certificate's issuer: if a firewall re-signs TLS, exempt Azure ML traffic from TLS inspection (Azure ML does not support it); else update the CA bundle or pass --ca-file.
//   monitor-vs-443 (tls_untrusted), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
//     The node does not trust the certificate's issuer: if a firewall re-signs TLS, exempt Azure ML traffic from TLS inspection (Azure ML does not support it); else update the CA bundle or pass --ca-file.

// Make sure these exist (the node could not tell whether they are missing, so they are
// not added here):
//   firewall network rule and NSG outbound rule: UDP 5831 to service tag AzureMachineLearning
//     tundra-udp-5831 (udp_no_reply), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
