"""Tests of the benchmark harness itself (not collected by the service suite)."""
