#!/usr/bin/python3
"""The EC2 test endpoint (endpoint/run_endpoint.py) with a higher limit on
live instances, for the 5,000-instance benchmark:

    run_endpoint_many.py --max-instances N [run_endpoint.py's arguments]

The endpoint caps live instances at 1,000 and has no flag for it yet; this
sets its module constant before starting it, and changes nothing else."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "endpoint"))
from ec2endpoint import instances  # noqa: E402
from ec2endpoint.__main__ import main  # noqa: E402

if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) < 2 or args[0] != "--max-instances" or not args[1].isdigit():
        sys.exit("usage: run_endpoint_many.py --max-instances N [endpoint arguments]")
    instances.MAX_INSTANCES = int(args[1])
    sys.exit(main(args[2:]))
