"""CloudFormation front end: template analysis shared by the CLI, the cfn-lint rules and the checkov checks."""
