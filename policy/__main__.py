"""Entry point the Pulumi CLI runs for `--policy-pack policy`: serve the pack's policies."""

import sys
from pathlib import Path

# The CLI runs this directory as a script; the rules live in the `policy` package next to the
# program, shared with `python -m automation check`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from policy.pack import PACK_NAME, policies

PolicyPack(name=PACK_NAME, policies=policies())
