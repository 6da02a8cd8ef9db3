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

variable "vnet_name" {
  description = "The virtual network of the compute subnet."
  type        = string
  default     = "REPLACE-vnet"
}

variable "vnet_resource_group_name" {
  description = "The virtual network's resource group, where it is not resource_group_name."
  type        = string
  default     = null
}

variable "subnet_name" {
  description = "The compute subnet."
  type        = string
  default     = "REPLACE-subnet"
}

variable "storage_account_resource_group_name" {
  description = "The storage accounts' resource group, where it is not resource_group_name."
  type        = string
  default     = null
}

# storage-blob-443 (storage_firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# storage-table-443 (storage_firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1#compute-instancecluster-with-no-public-ip
# The storage account amlstore1 must let the compute subnet in through its own
# firewall, and the subnet needs the Microsoft.Storage service endpoint (added to the
# endpoints it has). Or reach the account through a private endpoint instead, with its
# privatelink zones linked to the VNet.
# Not declared: azurerm_storage_account_network_rules replaces the account's whole rule
# set, so any subnet or address it lets in today that is not listed would lose access.
# The Azure CLI adds the one rule and keeps the others:
#   az storage account network-rule add --resource-group REPLACE-resource-group --account-name amlstore1 --vnet-name REPLACE-vnet --subnet REPLACE-subnet
# Or uncomment this, listing every rule the account has today (its ip_rules, bypass
# and other subnets):
#
# data "azurerm_subnet" "this" {
#   name                 = var.subnet_name
#   virtual_network_name = var.vnet_name
#   resource_group_name  = coalesce(var.vnet_resource_group_name, var.resource_group_name)
# }
#
# data "azurerm_storage_account" "amlstore1" {
#   name                = "amlstore1"
#   resource_group_name = coalesce(var.storage_account_resource_group_name, var.resource_group_name)
# }
#
# resource "azurerm_storage_account_network_rules" "amlstore1" {
#   storage_account_id         = data.azurerm_storage_account.amlstore1.id
#   default_action             = "Deny"
#   virtual_network_subnet_ids = [data.azurerm_subnet.this.id]
# }
