# amlprobe fix: the rules that make the report's checks pass, as Terraform (azurerm).
# Report from the Azure public cloud, region westeurope.
#
# A root module of its own: in an empty directory, terraform init, then terraform plan,
# and apply what the plan shows. It adds rules to resources that exist and creates none
# of them. Values starting REPLACE- are placeholders: set those variables (-var, or a
# terraform.tfvars file) before planning.

terraform {
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.0"
    }
  }
}

provider "azurerm" {
  features {}
}

variable "resource_group_name" {
  description = "The resource group of the resources below, unless its own variable names another."
  type        = string
  default     = "REPLACE-resource-group"
}

variable "firewall_policy_name" {
  description = "The firewall policy that gets the rule collection group."
  type        = string
  default     = "REPLACE-firewall-policy"
}

variable "firewall_policy_resource_group_name" {
  description = "The firewall policy's resource group, where it is not resource_group_name."
  type        = string
  default     = null
}

variable "rule_collection_group_name" {
  description = "A rule collection group of the policy's that does not exist yet."
  type        = string
  default     = "amlprobe-fix"
}

variable "rule_collection_group_priority" {
  description = "Its priority (100-65000): lower numbers are matched first."
  type        = number
  default     = 300
}

variable "source_addresses" {
  description = "The address ranges of the compute subnet, as the firewall sees them."
  type        = list(string)
  default     = ["REPLACE-subnet-address-range"]
}

variable "nsg_name" {
  description = "The network security group of the compute subnet."
  type        = string
  default     = "REPLACE-nsg"
}

variable "nsg_resource_group_name" {
  description = "The NSG's resource group, where it is not resource_group_name."
  type        = string
  default     = null
}

data "azurerm_firewall_policy" "this" {
  name                = var.firewall_policy_name
  resource_group_name = coalesce(var.firewall_policy_resource_group_name, var.resource_group_name)
}

# One rule collection group for all the rules below. Network rules are matched before
# application rules.
resource "azurerm_firewall_policy_rule_collection_group" "amlprobe" {
  name               = var.rule_collection_group_name
  firewall_policy_id = data.azurerm_firewall_policy.this.id
  priority           = var.rule_collection_group_priority

  network_rule_collection {
    name     = "amlprobe-network"
    priority = 100
    action   = "Allow"

    # vscode-instance-8710 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
    rule {
      name                  = "vscode-instance-8710"
      protocols             = ["TCP"]
      source_addresses      = var.source_addresses
      destination_addresses = ["AzureMachineLearning"]
      destination_ports     = ["8710"]
    }
  }
}

data "azurerm_network_security_group" "this" {
  name                = var.nsg_name
  resource_group_name = coalesce(var.nsg_resource_group_name, var.resource_group_name)
}

# Outbound rules from the VNet, priorities from 3000 up: before a catch-all deny.

# vscode-instance-8710 (tcp_timeout), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
resource "azurerm_network_security_rule" "amlprobe_vscode_instance_8710" {
  name                        = "amlprobe-vscode-instance-8710"
  resource_group_name         = data.azurerm_network_security_group.this.resource_group_name
  network_security_group_name = data.azurerm_network_security_group.this.name
  priority                    = 3000
  direction                   = "Outbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_address_prefix       = "VirtualNetwork"
  source_port_range           = "*"
  destination_address_prefix  = "AzureMachineLearning"
  destination_port_range      = "8710"
}
