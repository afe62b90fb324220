#!/usr/bin/env python3
"""The million on paper: the hardware a deployment of 1,000,000 concurrent connections needs,
from figures this suite measured (docs/scale.md explains each input and where it came from).

    python3 benches/scale_model.py                 # the default workload, Centrifugo's
    python3 benches/scale_model.py --ws-share 1.0  # every client on WebSocket

It models three resources per node (memory, CPU for deliveries, and Redis's pub/sub, which in
today's adapter sends every publish to every node) and reports which runs out first. It is
arithmetic on measured inputs, not a measurement: docs/scale.md says what it leaves out.
"""

import argparse
import math

# Measured on the 2-core development VM, release builds (README "Benchmarks", 2026-11/12).
KIB_PER_CONNECTION = {"webtransport": 72.0, "websocket": 15.0}  # memory scenario, 5,000 idle
# Server CPU per delivery. "paced": messages spread over time (fan-out at a fixed 20,000
# deliveries/s, and the scale scenario's rooms of 100 at 10 Hz), one write per delivery.
# "batched": the same fan-out at saturation, where writes coalesce.
CPU_US_PER_DELIVERY = {
    "paced": {"webtransport": 21.3, "websocket": 10.3},
    "batched": {"webtransport": 1.54, "websocket": 0.52},
}
SCALE_RUN_CPU_US_PER_DELIVERY = 8.7  # scale scenario: 96 % of a core for 110,000 deliveries/s
SCALE_RUN_P99_MS = 307  # the same run, a saturated 2-core box (server and load generator)
FANOUT_P99_MS_UNLOADED = 15.2  # fan-out to 1,000 at 20,000 deliveries/s, about a fifth of a core
REDIS_MESSAGES_PER_S = 500_000  # one Redis core's pub/sub delivery rate: an assumption, see docs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1_000_000)
    parser.add_argument("--deliveries-per-s", type=int, default=500_000,
                        help="messages delivered to clients per second (Centrifugo's run: 500k)")
    parser.add_argument("--room-size", type=int, default=10,
                        help="receivers per published message (Centrifugo's group channels: 10)")
    parser.add_argument("--ws-share", type=float, default=0.5,
                        help="share of clients on WebSocket; the rest on WebTransport")
    parser.add_argument("--node-gib", type=float, default=16, help="memory per node")
    parser.add_argument("--node-cores", type=float, default=8, help="cores per node")
    parser.add_argument("--utilisation", type=float, default=0.5,
                        help="the share of a node's cores and memory to plan for")
    parser.add_argument("--delivery", choices=["paced", "batched"], default="paced")
    args = parser.parse_args()

    ws, wt = args.ws_share, 1 - args.ws_share
    kib = ws * KIB_PER_CONNECTION["websocket"] + wt * KIB_PER_CONNECTION["webtransport"]
    cpu_us = ws * CPU_US_PER_DELIVERY[args.delivery]["websocket"] \
        + wt * CPU_US_PER_DELIVERY[args.delivery]["webtransport"]
    memory_gib = args.connections * kib / 2**20
    cores = args.deliveries_per_s * cpu_us / 1e6
    nodes_for_memory = math.ceil(memory_gib / (args.node_gib * args.utilisation))
    nodes_for_cpu = math.ceil(cores / (args.node_cores * args.utilisation))
    nodes = max(nodes_for_memory, nodes_for_cpu, 1)
    publishes = args.deliveries_per_s / args.room_size
    # Today's adapter: one channel for all, so Redis sends each publish to every node.
    redis_out = publishes * nodes
    redis_cores = redis_out / REDIS_MESSAGES_PER_S

    print(f"workload: {args.connections:,} connections ({ws:.0%} WebSocket), "
          f"{args.deliveries_per_s:,} deliveries/s in rooms of {args.room_size}")
    print(f"memory: {kib:.1f} KiB per connection -> {memory_gib:.1f} GiB in all")
    print(f"CPU: {cpu_us:.2f} us per delivery ({args.delivery}) -> {cores:.2f} cores in all")
    print(f"nodes of {args.node_cores:g} cores and {args.node_gib:g} GiB at "
          f"{args.utilisation:.0%}: {nodes_for_memory} for memory, {nodes_for_cpu} for CPU "
          f"-> {nodes} nodes, {args.connections / nodes:,.0f} connections each")
    print(f"Redis: {publishes:,.0f} publishes/s, each sent to {nodes} nodes -> "
          f"{redis_out:,.0f} messages/s, about {redis_cores:.1f} Redis cores")
    first = max([("memory", nodes_for_memory), ("CPU", nodes_for_cpu)], key=lambda x: x[1])[0]
    if redis_cores > 1:
        first = "Redis (one pub/sub for all nodes)"
    print(f"first bottleneck: {first}")
    print(f"delivery p99: about {FANOUT_P99_MS_UNLOADED:g} ms with nodes at {args.utilisation:.0%}; "
          f"{SCALE_RUN_P99_MS} ms was measured on a saturated node")


if __name__ == "__main__":
    main()
