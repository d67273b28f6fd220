#!/usr/bin/env python3
"""Drift-free timing: every round runs each command once, in a fresh random
order, so load that changes during the run hits all commands alike (hyperfine
runs all runs of one command before the next, which turns drift into fake
ratios on a shared machine).

usage: interleave.py ROUNDS OUT.json NAME=COMMAND [NAME=COMMAND ...]
Commands are split on spaces (no shell). Prints a markdown table.
"""
import json
import os
import random
import statistics
import sys
import time


def run_once(argv):
    """(wall ms, cpu ms) of one run, or None when it failed. CPU time is
    user+sys of the process and every descendant it waited for (wait4's
    rusage): the runtime's whole process tree, which load on a shared machine
    disturbs far less than wall time."""
    start = time.perf_counter_ns()
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter_ns() - start
    # A failed run is counted, not timed (youki 0.7.0 fails now and then here).
    if os.waitstatus_to_exitcode(status) != 0:
        return None
    return elapsed / 1e6, (usage.ru_utime + usage.ru_stime) * 1e3


def main():
    rounds, out, specs = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    cmds = [(name, cmd.split()) for name, cmd in (s.split("=", 1) for s in specs)]
    # Per command, round -> ms (failed runs left out): the rounds pair each
    # time with the baseline's time under the same load.
    by_round = {name: {} for name, _ in cmds}
    cpu_by_round = {name: {} for name, _ in cmds}
    failed = {name: 0 for name, _ in cmds}
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1), os.dup(2)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        for r in range(rounds + 5):  # 5 warm-up rounds, not recorded
            order = cmds[:]
            random.shuffle(order)
            for name, argv in order:
                t = run_once(argv)
                if r >= 5 and t is None:
                    failed[name] += 1
                elif r >= 5:
                    by_round[name][r], cpu_by_round[name][r] = t
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
    base_name = cmds[0][0]
    times = {name: list(rounds_ms.values()) for name, rounds_ms in by_round.items()}
    base = statistics.median(times[base_name])
    cpu = {name: list(rounds_ms.values()) for name, rounds_ms in cpu_by_round.items()}
    cpu_base = statistics.median(cpu[base_name])
    rows = []
    print(f"| runtime | median ms | mean ± σ ms | min ms | ratio of medians to `{base_name}` "
          f"| paired ratio: median [p25, p75] | CPU ms (user+sys), median | CPU ratio | failed runs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, _ in cmds:
        t = times[name]
        if len(t) < 2:
            print(f"| {name} | — | — | — | — | — | — | — | {failed[name]} |")
            continue
        med = statistics.median(t)
        # The same round's run of the baseline ran under the same load: the
        # per-round ratio cancels drift that spreads both distributions.
        paired = sorted(v / by_round[base_name][r] for r, v in by_round[name].items() if r in by_round[base_name])
        q = statistics.quantiles(paired, n=4) if len(paired) >= 2 else [float("nan")] * 3
        rows.append({"command": name, "failed": failed[name], "median_ms": med, "mean_ms": statistics.mean(t),
                     "stddev_ms": statistics.stdev(t), "min_ms": min(t), "ratio": med / base,
                     "paired_ratio_median": q[1], "paired_ratio_p25": q[0], "paired_ratio_p75": q[2], "times_ms": t,
                     "cpu_median_ms": statistics.median(cpu[name]),
                     "cpu_ratio": statistics.median(cpu[name]) / cpu_base, "cpu_ms": cpu[name]})
        print(f"| {name} | {med:.2f} | {statistics.mean(t):.2f} ± {statistics.stdev(t):.2f} | {min(t):.2f} "
              f"| {med / base:.2f}x | {q[1]:.3f}x [{q[0]:.2f}, {q[2]:.2f}] "
              f"| {statistics.median(cpu[name]):.2f} | {statistics.median(cpu[name]) / cpu_base:.2f}x | {failed[name]} |")
    with open(out, "w") as f:
        json.dump({"rounds": rounds, "results": rows}, f)


if __name__ == "__main__":
    main()
