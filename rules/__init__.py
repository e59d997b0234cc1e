"""One module per rule; `migrator.rule.all_rules` discovers them. Installed as `migrator.rules`."""
