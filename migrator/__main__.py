from migrator.cli import entry

entry()
