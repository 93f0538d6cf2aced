"""FraiseQL's load benchmark harness; run it with `bash bench/run.sh` (see bench/README.md)."""
