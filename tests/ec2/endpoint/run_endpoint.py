#!/usr/bin/python3
"""Starts the EC2 test endpoint (see README.md next to this file)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ec2endpoint.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
