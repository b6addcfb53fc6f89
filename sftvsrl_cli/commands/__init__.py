"""One module per subcommand, each exporting `command`."""
