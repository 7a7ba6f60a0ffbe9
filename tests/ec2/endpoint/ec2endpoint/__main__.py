"""Command line: start every part, write the ready file, serve until
SIGTERM/SIGINT (or the parent's death with --exit-with-parent), then stop
every SSH server. See ../README.md."""

import argparse
import ipaddress
import json
import os
import random
import signal
import sys
import threading

from . import control, imds, model, query_server, tls
from .faults import Counters, Faults
from .instances import Delays, Instances, Subnets
from .keypairs import KeyPairs
from .spot_prices import SpotPrices
from .ssh_servers import SshServers

PARENT_POLL = 0.2


def _non_negative(text):
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


class _OneLineErrors(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"ec2endpoint: {message} (see --help)\n")


def parse_args(argv):
    p = _OneLineErrors(prog="ec2endpoint", description="A fake EC2 endpoint for tests.")
    p.add_argument("--state-dir", required=True, help="instance directories, TLS files, ready file")
    p.add_argument("--ready-file", help="default STATE_DIR/ready.json")
    servers = p.add_mutually_exclusive_group(required=True)
    servers.add_argument("--loopback-server", help="path of cloudhost-loopback-server")
    servers.add_argument("--no-ssh-servers", action="store_true", help="instances run no SSH server")
    p.add_argument("--ssh-port", type=int, default=22)
    p.add_argument("--address-base", default=f"127.{random.randint(1, 254)}.0.0",
                   help="instances get BASE+1, BASE+2, ... (default: a random 127.X.0.0, so that "
                        "endpoints running side by side do not collide)")
    p.add_argument("--access-key-id", default="AKIDTESTENDPOINT0001")
    p.add_argument("--secret-access-key", default="test-secret-key")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--subnet", action="append", default=[], help="a known subnet id (repeatable)")
    p.add_argument("--page-size", type=int, default=2)
    p.add_argument("--list-delay", type=_non_negative, default=0.2)
    p.add_argument("--pending-delay", type=_non_negative, default=0.5)
    p.add_argument("--address-delay", type=_non_negative, default=0.3)
    p.add_argument("--shutting-down-delay", type=_non_negative, default=0.5)
    p.add_argument("--terminated-retention", type=_non_negative, default=5.0)
    p.add_argument("--credential-lifetime", type=_non_negative, default=60.0)
    p.add_argument("--role-name", default="cloudhost-test-role")
    p.add_argument("--faults", help="a JSON file: a list of faults (see README)")
    p.add_argument("--exit-with-parent", action="store_true")
    args = p.parse_args(argv)
    if args.page_size < 1:
        p.error("--page-size must be at least 1")
    if args.credential_lifetime <= 0:
        p.error("--credential-lifetime must be positive")
    if not 1 <= args.ssh_port <= 65535:
        p.error("--ssh-port must be 1..65535")
    if args.loopback_server and not os.access(args.loopback_server, os.X_OK):
        p.error(f"--loopback-server {args.loopback_server}: not an executable file")
    try:
        base = ipaddress.IPv4Address(args.address_base)
    except ValueError:
        p.error(f"--address-base {args.address_base!r} is not an IPv4 address")
    if base not in ipaddress.IPv4Network("127.0.0.0/8"):
        p.error("--address-base must be in 127.0.0.0/8")
    return args


def load_faults(path, faults):
    try:
        with open(path) as f:
            specs = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f"ec2endpoint: {path}: {e}")
    if not isinstance(specs, list):
        raise SystemExit(f"ec2endpoint: {path}: expected a JSON list of faults")
    for i, spec in enumerate(specs):
        try:
            faults.add(spec)
        except ValueError as e:
            raise SystemExit(f"ec2endpoint: {path}: fault [{i}]: {e}")


def write_ready_file(path, content):
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(content, f, indent=1)
        f.write("\n")
    os.replace(temporary, path)


def _remove_own_ready_file(path):
    """Removes the ready file unless another endpoint has replaced it since."""
    try:
        with open(path) as f:
            if json.load(f).get("pid") != os.getpid():
                return
        os.unlink(path)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv):
    args = parse_args(argv)
    parent = os.getppid()
    state_dir = os.path.abspath(args.state_dir)
    os.makedirs(os.path.join(state_dir, "instances"), mode=0o700, exist_ok=True)
    ready_file = os.path.abspath(args.ready_file or os.path.join(state_dir, "ready.json"))
    model.service_model()  # load it now rather than in the first request
    ca_file, cert, key = tls.make_certificates(os.path.join(state_dir, "tls"))

    faults, counters = Faults(), Counters()
    if args.faults:
        load_faults(args.faults, faults)
    credentials = imds.Credentials(args.access_key_id, args.secret_access_key, args.credential_lifetime,
                                   args.role_name)
    subnets = Subnets(args.subnet, args.region)
    key_pairs = KeyPairs(faults)
    ssh_servers = SshServers(None if args.no_ssh_servers else os.path.abspath(args.loopback_server), args.ssh_port)
    delays = Delays(args.list_delay, args.pending_delay, args.address_delay, args.shutting_down_delay,
                    args.terminated_retention)
    instances = Instances(delays, subnets, ssh_servers, key_pairs, state_dir, args.address_base, faults, counters)
    spot_prices = SpotPrices(subnets.zones(), faults)
    api = query_server.Ec2Api(instances, key_pairs, spot_prices, faults, counters,
                              credentials, args.region, args.page_size)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    servers = []
    try:
        query = query_server.start_query_server(tls.server_context(cert, key), api)
        servers.append(query)
        metadata = imds.start_imds(credentials, counters)
        servers.append(metadata)
        side_door = control.start_control({"faults": faults, "counters": counters, "instances": instances,
                                           "api": api, "spot_prices": spot_prices})
        servers.append(side_door)
        port = query.server_address[1]
        write_ready_file(ready_file, {
            "pid": os.getpid(), "endpoint_url": f"https://127.0.0.1:{port}/", "port": port, "ca_file": ca_file,
            "region": args.region, "access_key_id": args.access_key_id,
            "secret_access_key": args.secret_access_key,
            "imds_url": f"http://127.0.0.1:{metadata.server_address[1]}", "role_name": args.role_name,
            "control_url": f"http://127.0.0.1:{side_door.server_address[1]}", "ssh_port": args.ssh_port,
            "address_base": args.address_base, "state_dir": state_dir})
        while not stop.wait(PARENT_POLL):
            if args.exit_with_parent and os.getppid() != parent:
                break
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        ssh_servers.close()
        _remove_own_ready_file(ready_file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
