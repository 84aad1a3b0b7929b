"""The ``mlswire`` subcommands, one module per command group. Each module has
``add_parser(subparsers)`` that registers its commands; ``mlswire.cli`` lists the modules."""
