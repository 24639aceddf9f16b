"""Benchmarks of the assistant (issue 5): latency, memory, training time, accuracy, soak.

`make bench` runs `python -m bench.run_all`. Everything runs on loopback; each
benchmark prints its figures and writes a table (markdown/JSON) and a plot
under results/.
"""
