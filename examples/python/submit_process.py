#!/usr/bin/env python3
"""Start an order process on a weft coordinator from Python, using only the gRPC API.

Nothing generated is kept in the repository: the stubs are compiled from proto/ at
start-up with grpc_tools.protoc into a temporary directory. So this script is also a
check that the .proto files are all a non-Rust client needs.

    python3 -m venv .venv && .venv/bin/pip install -r examples/python/requirements.txt
    .venv/bin/python examples/python/submit_process.py --coordinator 127.0.0.1:7070

    # a coordinator serving mutual TLS (certificates from `weftctl admin init-certs DIR`)
    .venv/bin/python examples/python/submit_process.py --coordinator coordinator:7070 \
        --ca DIR/ca.crt --cert DIR/weftctl.crt --key DIR/weftctl.key

It builds a process of two parallel workflows (shipping and billing) from the wire
messages, starts it with an idempotency key, prints the run's events as they happen
(WatchRun), then fetches the run (GetRun) and prints each task's result. Exit code 0
if the run succeeded, 1 if it failed, was cancelled or could not be started.

The shell tasks need a worker started with --allow-shell (`weftctl dev` starts such
workers); pass --noop-only for a cluster without one.

With --ca the channel is TLS, verifying the coordinator's certificate with that CA (the
name in --coordinator must be one the certificate was made for); --cert and --key add a
client certificate, which a coordinator started with --tls-client-ca requires.

A coordinator started with --tokens wants a bearer token with the `submit` and `read` roles
(`weftctl admin token new NAME --roles submit,read` makes one): pass --token, or set
WEFT_TOKEN. It is sent as `authorization: Bearer <token>` metadata on every call.
"""

import argparse
import importlib
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

MAX_MESSAGE_BYTES = 16 * 1024 * 1024

PROTO_FILES = [
    "weft/v1/types.proto",
    "weft/v1/workflow.proto",
    "weft/v1/worker.proto",
    "weft/v1/monitor.proto",
]
FINAL_EVENTS = {"EVENT_KIND_RUN_SUCCEEDED", "EVENT_KIND_RUN_FAILED", "EVENT_KIND_RUN_CANCELLED"}


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def parse_args():
    repo = Path(__file__).resolve().parents[2]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--coordinator", default=os.environ.get("WEFT_COORDINATOR", "127.0.0.1:7070"),
                   help="coordinator address host:port (default: %(default)s)")
    p.add_argument("--order", default=f"A-{uuid.uuid4().hex[:6]}",
                   help="order id; also makes the default idempotency key (default: a fresh one)")
    p.add_argument("--idempotency-key", help="idempotency key (default: order-<ORDER>); start twice with "
                                             "the same key and the second start returns the first run")
    p.add_argument("--noop-only", action="store_true", help="use noop tasks instead of shell tasks")
    p.add_argument("--token", default=os.environ.get("WEFT_TOKEN"),
                   help="bearer token for a coordinator started with --tokens (default: $WEFT_TOKEN)")
    p.add_argument("--ca", type=Path, default=os.environ.get("WEFT_TLS_CA"),
                   help="connect over TLS, verifying the coordinator with this CA certificate (PEM; default: $WEFT_TLS_CA)")
    p.add_argument("--cert", type=Path, default=os.environ.get("WEFT_TLS_CERT"),
                   help="client certificate (PEM) for a coordinator that requires one (default: $WEFT_TLS_CERT)")
    p.add_argument("--key", type=Path, default=os.environ.get("WEFT_TLS_KEY"),
                   help="private key of --cert (PEM; default: $WEFT_TLS_KEY)")
    p.add_argument("--connect-timeout", type=float, default=5.0, help="seconds to wait for the coordinator")
    p.add_argument("--proto-dir", type=Path, default=repo / "proto", help="directory holding weft/v1/*.proto")
    args = p.parse_args()
    if (args.cert is None) != (args.key is None):
        p.error("--cert and --key go together")
    if args.cert is not None and args.ca is None:
        p.error("--cert needs --ca (a client certificate is only sent over TLS)")
    return args


def open_channel(grpc, args, options):
    """A TLS channel with --ca (and a client certificate with --cert/--key), else plaintext."""
    if args.ca is None:
        return grpc.insecure_channel(args.coordinator, options=options)

    def read(path):
        try:
            return path.read_bytes()
        except OSError as e:
            fail(f"cannot read {path}: {e.strerror}")

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca),
        private_key=read(args.key) if args.key else None,
        certificate_chain=read(args.cert) if args.cert else None,
    )
    return grpc.secure_channel(args.coordinator, credentials, options=options)


def load_stubs(proto_dir, out_dir):
    """Compiles the weft protos into out_dir and imports the generated modules."""
    try:
        from grpc_tools import protoc
    except ImportError:
        fail("grpcio-tools is not installed: pip install -r examples/python/requirements.txt")
    for name in PROTO_FILES:
        if not (proto_dir / name).is_file():
            fail(f"{proto_dir / name} not found; pass --proto-dir")
    # The well-known types ship inside grpc_tools; protoc needs them on its include path.
    well_known = Path(protoc.__file__).resolve().parent / "_proto"
    args = ["protoc", f"-I{proto_dir}", f"-I{well_known}",
            f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", *PROTO_FILES]
    if protoc.main(args) != 0:
        fail(f"protoc could not compile {proto_dir}")
    # The generated modules import each other as `weft.v1.<name>_pb2` (namespace packages).
    sys.path.insert(0, str(out_dir))
    types_pb2 = importlib.import_module("weft.v1.types_pb2")
    workflow_pb2 = importlib.import_module("weft.v1.workflow_pb2")
    workflow_pb2_grpc = importlib.import_module("weft.v1.workflow_pb2_grpc")
    return types_pb2, workflow_pb2, workflow_pb2_grpc


def build_process(types_pb2, order, noop_only):
    """An order process: shipping and billing run in parallel, each a chain of steps."""

    def shell(name, script, **env):
        if noop_only:
            return types_pb2.TaskSpec(name=name, kind="noop",
                                      params_json=json.dumps({"result": {"would_run": script}}))
        params = {"argv": ["sh", "-c", script], "env": {"ORDER": order, **env}}
        return types_pb2.TaskSpec(name=name, kind="shell", params_json=json.dumps(params))

    def noop(name, result=None, priority=0):
        params = json.dumps({"result": result}) if result is not None else ""
        return types_pb2.TaskSpec(name=name, kind="noop", params_json=params, priority=priority)

    shipping = types_pb2.WorkflowSpec(name="shipping", chain=True, tasks=[
        shell("reserve", 'echo "reserved item $ITEM for order $ORDER"', ITEM="SKU-778"),
        noop("pick"),
        shell("pack", 'echo "packed order $ORDER"'),
        shell("ship", 'echo "shipped order $ORDER"'),
    ])
    billing = types_pb2.WorkflowSpec(name="billing", chain=True, tasks=[
        shell("invoice", 'echo "invoice INV-$ORDER issued"'),
        noop("charge", result={"charged": 42.5, "currency": "EUR"}, priority=10),
        shell("receipt", 'echo "receipt for order $ORDER sent"'),
    ])
    return types_pb2.ProcessSpec(
        name="order-fulfilment-py",
        workflows=[shipping, billing],
        failure_policy=types_pb2.FAILURE_POLICY_FAIL_FAST,
        default_retry=types_pb2.RetryPolicy(max_attempts=3, initial_backoff_ms=200),
    )


def describe_event(types_pb2, event):
    kind = types_pb2.EventKind.Name(event.kind)
    line = f"#{event.seq:<3} {kind.removeprefix('EVENT_KIND_').lower():<15}"
    if event.task:
        line += f" {event.workflow}/{event.task}"
    if event.attempt:
        line += f" attempt {event.attempt}"
    if event.detail:
        line += f"  {event.detail}"
    return line


def main():
    args = parse_args()
    import grpc  # after argparse, so --help works without grpcio installed

    with tempfile.TemporaryDirectory(prefix="weft-py-") as out_dir:
        types_pb2, workflow_pb2, workflow_pb2_grpc = load_stubs(args.proto_dir, out_dir)

        # Every weft node sends and accepts messages of up to 16 MiB (MAX_MESSAGE_BYTES in
        # crates/weft-model/src/limits.rs); grpcio's own default is 4 MiB.
        channel = open_channel(grpc, args, [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ])
        try:
            grpc.channel_ready_future(channel).result(timeout=args.connect_timeout)
        except grpc.FutureTimeoutError:
            hint = (" (over TLS: is --ca the CA of its certificate, and --coordinator a name it was made for?)"
                    if args.ca else "")
            fail(f"coordinator unreachable at {args.coordinator} (no answer within "
                 f"{args.connect_timeout:g}s){hint}; start one (e.g. `weftctl dev --stay` prints its address) or pass --coordinator")
        stub = workflow_pb2_grpc.WorkflowServiceStub(channel)
        # Per-call metadata: grpcio's call credentials would need a TLS channel.
        auth = [("authorization", f"Bearer {args.token.strip()}")] if args.token else None

        key = args.idempotency_key or f"order-{args.order}"
        request = workflow_pb2.StartRunRequest(
            spec=build_process(types_pb2, args.order, args.noop_only),
            idempotency_key=key,
            input_json=json.dumps({"order": args.order}),
        )
        try:
            started = stub.StartRun(request, timeout=10, metadata=auth)
        except grpc.RpcError as e:
            fail(f"StartRun refused: {e.code().name}: {e.details()}")
        note = "started" if started.created else "idempotency key matched an existing run"
        print(f"run {started.run_id} ({note}; key {key})")

        try:
            watch = workflow_pb2.WatchRunRequest(run_id=started.run_id, from_seq=1)
            for event in stub.WatchRun(watch, metadata=auth):
                print(describe_event(types_pb2, event), flush=True)
                if types_pb2.EventKind.Name(event.kind) in FINAL_EVENTS:
                    break
            run = stub.GetRun(workflow_pb2.GetRunRequest(run_id=started.run_id), timeout=10, metadata=auth)
        except grpc.RpcError as e:
            fail(f"following run {started.run_id}: {e.code().name}: {e.details()}")

        status = types_pb2.RunStatus.Name(run.status)
        print(f"\nrun {run.run_id}: {status.removeprefix('RUN_STATUS_').lower()}"
              + (f" ({run.reason})" if run.reason else ""))
        for workflow in run.workflows:
            for task in workflow.tasks:
                state = types_pb2.TaskState.Name(task.state).removeprefix("TASK_STATE_").lower()
                outcome = task.result_json or (task.error.message if task.HasField("error") else "")
                print(f"  {workflow.name + '/' + task.name:<18} {state:<10} {outcome}")
        channel.close()
        return 0 if run.status == types_pb2.RUN_STATUS_SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(main())
