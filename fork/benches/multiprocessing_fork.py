"""Python's multiprocessing with the fork start method, for the record.

Times what fork/benches/fork.rs times in Rust: a process that runs a
function and exits, started and joined (`Process.start` + `join`), and one
that sends back a value through a `Pipe`. Prints the median of a few rounds,
in microseconds per operation. Run: python3 fork/benches/multiprocessing_fork.py
"""

import multiprocessing as mp
import statistics
import time

ROUNDS = 5
PER_ROUND = 200


def nothing():
    pass


def send_answer(conn):
    conn.send(42)
    conn.close()


def fork_exit_wait(ctx):
    process = ctx.Process(target=nothing)
    process.start()
    process.join()
    assert process.exitcode == 0


def fork_with_result(ctx):
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=send_answer, args=(child,))
    process.start()
    child.close()
    assert parent.recv() == 42
    parent.close()
    process.join()


def median_micros(operation, ctx):
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(PER_ROUND):
            operation(ctx)
        rounds.append((time.perf_counter() - started) / PER_ROUND * 1e6)
    return statistics.median(rounds)


if __name__ == "__main__":
    ctx = mp.get_context("fork")
    print(f"fork: fork + exit + wait   multiprocessing(fork)  {median_micros(fork_exit_wait, ctx):8.1f} us")
    print(f"fork: fork_with_result     multiprocessing(fork)  {median_micros(fork_with_result, ctx):8.1f} us")
