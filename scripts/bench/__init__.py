"""Benchmarks (docs/benchmarks.md), run from the repository root as modules:

    python -m scripts.bench.ingest --all      # engagement ingest on the Procfile's web process
    python -m scripts.bench.stream --all      # SSE fan-out latency

`helpers` is what every driver and load generator shares (ports, percentiles, CPU from /proc);
`ingest_load` and `ingest_wrk.lua` drive ingest, `sse_clients`, `publisher`, `variants` and
`profile_summary` the stream benchmark.
"""
