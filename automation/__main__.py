import sys

from automation.cli import Environment, main

sys.exit(main(sys.argv[1:], Environment.real()))
