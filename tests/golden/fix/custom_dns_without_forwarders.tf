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

variable "private_dns_zone_resource_group_name" {
  description = "The private DNS zones' resource group, where it is not resource_group_name."
  type        = string
  default     = null
}

data "azurerm_virtual_network" "this" {
  name                = var.vnet_name
  resource_group_name = coalesce(var.vnet_resource_group_name, var.resource_group_name)
}

data "azurerm_private_dns_zone" "privatelink_api_azureml_ms" {
  name                = "privatelink.api.azureml.ms"
  resource_group_name = coalesce(var.private_dns_zone_resource_group_name, var.resource_group_name)
}

# pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
# With azurerm 5.x, private_dns_zone_id replaces the zone's name and resource group.
resource "azurerm_private_dns_zone_virtual_network_link" "amlprobe_privatelink_api_azureml_ms" {
  name                  = "amlprobe-privatelink-api-azureml-ms"
  resource_group_name   = data.azurerm_private_dns_zone.privatelink_api_azureml_ms.resource_group_name
  private_dns_zone_name = data.azurerm_private_dns_zone.privatelink_api_azureml_ms.name
  virtual_network_id    = data.azurerm_virtual_network.this.id
  registration_enabled  = false
}

# The custom DNS server (not an Azure resource) must forward these zones to Azure DNS,
# 168.63.129.16, for the private endpoints' addresses to resolve:
#   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   forward api.azureml.ms to 168.63.129.16
#   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   forward aznbcontent.net to 168.63.129.16
#   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   forward inference.ml.azure.com to 168.63.129.16
#   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   forward instances.azureml.ms to 168.63.129.16
#   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   forward instances.ml.azure.ms to 168.63.129.16
#   pe-workspace-api (dns_public_address), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   pe-workspace-cert (dns_no_privatelink), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#   forward notebooks.azure.net to 168.63.129.16

# No rule fixes these:
#   pe-compute-instance (dns_nxdomain), https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns
#     No rule: ci-one.westeurope.instances.azureml.ms does not exist in DNS. Check the name (a typo, a deleted resource, or a private DNS zone linked to this VNet that lacks the record); no firewall change makes a missing name resolve.
