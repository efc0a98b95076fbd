"""``python -m ephys2type``: the command line, as the ``ephys2type`` script gives it."""

from ephys2type.cli import main

if __name__ == "__main__":
    main()
