terraform {
  # 1.9 lets a variable's validation refer to other variables.
  required_version = ">= 1.9, < 2.0"
}
