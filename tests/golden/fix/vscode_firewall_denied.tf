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

  application_rule_collection {
    name     = "amlprobe-application"
    priority = 200
    action   = "Allow"

    # vscode-marketplace-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
    rule {
      name = "vscode-marketplace-443"
      protocols {
        type = "Https"
        port = 443
      }
      source_addresses  = var.source_addresses
      destination_fqdns = ["marketplace.visualstudio.com"]
    }

    # vscode-update-443 (firewall_denied), https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall
    rule {
      name = "vscode-update-443"
      protocols {
        type = "Https"
        port = 443
      }
      source_addresses  = var.source_addresses
      destination_fqdns = ["update.code.visualstudio.com"]
    }
  }
}
