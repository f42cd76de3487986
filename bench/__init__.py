"""tickwire benchmarks: the server and its peers under the same load, on loopback.

`python -m bench` (or `make bench`) runs every scenario in one process tree and
writes `bench/results/latest.json` and `latest.png`; see `bench/__main__.py`.
"""
