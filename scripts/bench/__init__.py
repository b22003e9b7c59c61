"""Helper modules of the benchmark scripts (scripts/bench_stream.py: sse_clients, publisher,
variants, profile_summary; scripts/bench_ingest.py: ingest_load)."""
