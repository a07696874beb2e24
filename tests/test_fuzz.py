"""CI gate of issue 13: a fixed-seed sample of benchmarks/fuzz.py (every entry
point, worker subprocesses with a per-input timeout and a memory cap) within
a 60 s budget; any escape, crash, hang, memory blow-up or wrong answer fails.
Reproducers of a failure are left in the test's temporary directory."""
from __future__ import annotations

import importlib.util
import json
import os
import random
import signal
import threading

import pytest

from tflm_unit.errors import DataError, ModelFormatError

_FUZZ_PATH = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks", "fuzz.py")
SAMPLE_SEED = 13
SAMPLE_SECONDS = 50.0  # the sample stops taking inputs here: with the last input's tail, under 60 s
MIN_INPUTS = 100  # a sample this small would not be a test (the shared CI machine is slow, not that slow)


@pytest.fixture(scope="module")
def fuzz():
    spec = importlib.util.spec_from_file_location("tflm_unit_fuzz_harness", _FUZZ_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def seeds(fuzz):
    return sorted(fuzz.seed_models().items())  # generated (TensorFlow) once per machine, then cached


def test_fixed_seed_sample_has_no_escape_crash_or_timeout(fuzz, seeds, tmp_path):
    summary = fuzz.fuzz(count=5000, seed=SAMPLE_SEED, jobs=2, out_dir=str(tmp_path), timeout=20.0,
                        memory_mb=2048, max_seconds=SAMPLE_SECONDS)
    bad = [json.load(open(os.path.join(tmp_path, "reproducers", f)))
           for f in sorted(os.listdir(os.path.join(tmp_path, "reproducers")))
           if f.endswith(".json")] if summary["bad"] else []
    assert summary["bad"] == 0, (summary["bad_counts"], [(b.get("entry"), b["outcome"], b.get("detail", "")[-400:])
                                                          for b in bad[:5]])
    assert summary["inputs"] >= MIN_INPUTS, summary
    outcomes = summary["outcomes"]
    assert set(outcomes) <= {"ok"} | {k for k in outcomes if k.startswith("project:")}, outcomes
    # the sample reaches both ends: models that run and models the project refuses
    assert outcomes.get("ok", 0) > 0 and outcomes.get("project:ModelFormatError", 0) > 0, outcomes
    assert summary["per_entry_point"]["inference"].get("ok", 0) > 0


def test_inputs_are_deterministic_and_mutated(fuzz, seeds):
    first = [fuzz.make_input(seeds, SAMPLE_SEED, i) for i in range(30)]
    assert first == [fuzz.make_input(seeds, SAMPLE_SEED, i) for i in range(30)]
    originals = dict(seeds)
    assert all(data != originals[name] for name, _, data in first)
    assert {kind for _, kind, _ in first} == {"bytes", "schema"}


def test_outcomes_are_classified(fuzz):
    assert fuzz._classify(ModelFormatError("x")) == "project:ModelFormatError"
    assert fuzz._classify(DataError("x")) == "project:DataError"
    assert fuzz._classify(ValueError("x")) == "escape:ValueError"  # a raw ValueError is an escape
    assert fuzz._classify(RecursionError()) == "escape:RecursionError"
    assert fuzz._classify(MemoryError()) == "memory"


def test_worker_reports_crashes_and_timeouts(fuzz):
    """The parent side reports a worker that dies and one that hangs (here:
    one waiting for the rest of a frame that never comes), and starts afresh."""
    worker = fuzz.Worker(memory_mb=2048)
    try:
        status, results = worker.run(b"not a model", timeout=60.0)
        assert status == "done" and set(results) == set(fuzz.ENTRY_POINTS)
        assert all(outcome.startswith("project:") for outcome, _ in results.values()), results
        worker.proc.stdin.write((100).to_bytes(4, "little"))  # announces 100 bytes
        worker.proc.stdin.flush()
        assert worker.run(b"", timeout=2.0) == ("timeout", None)
        assert worker.proc is None
        worker.run(b"not a model", timeout=60.0)  # a fresh worker
        worker.proc.stdin.write((100).to_bytes(4, "little"))
        worker.proc.stdin.flush()
        threading.Timer(1.0, worker.proc.terminate).start()
        status, code = worker.run(b"", timeout=30.0)
        assert (status, code) == ("crash", -signal.SIGTERM)
        assert worker.run(b"not a model", timeout=60.0)[0] == "done"
    finally:
        worker.stop()


def test_mutator_failures_are_counted_not_hidden(fuzz, seeds, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("mutator bug")
    monkeypatch.setattr(fuzz, "make_input", broken)
    summary = fuzz.fuzz(count=3, seed=0, jobs=1, out_dir=str(tmp_path))
    assert summary["outcomes"] == {"harness_error": 3} and summary["bad"] == 3


def test_random_byte_mutations_change_the_input(fuzz):
    rng = random.Random(0)
    data = bytes(range(256)) * 4
    assert sum(fuzz.mutate_bytes(data, rng) != data for _ in range(50)) >= 45


def test_chunk_summaries_merge(fuzz):
    def chunk(start, outcomes, bad_counts):
        return {"seed": 7, "start": start, "inputs": sum(outcomes.values()), "seconds": 2.0, "timeout_seconds": 30.0,
                "memory_mb": 2048, "seeds": ["a"], "mutations": {"bytes": 1}, "outcomes": outcomes,
                "per_entry_point": {"load_graph": outcomes}, "bad": sum(bad_counts.values()),
                "bad_counts": bad_counts}
    merged = fuzz.merge_summaries([chunk(10, {"ok": 4, "timeout": 1}, {"timeout": 1}),
                                   chunk(0, {"ok": 3, "project:ModelFormatError": 7}, {})], "abc")
    assert merged["inputs"] == 15 and merged["input_ranges"] == [(0, 10), (10, 15)]
    assert merged["outcomes"] == {"ok": 7, "project:ModelFormatError": 7, "timeout": 1}
    assert merged["goal"] == {"crash": 0, "timeout": 1, "memory": 0, "wrong_answer": 0,
                              "escape (non-project exception)": 0}
    assert merged["bad"] == 1 and merged["commit"] == "abc"
    with pytest.raises(ValueError, match="overlapping"):
        fuzz.merge_summaries([chunk(0, {"ok": 4}, {}), chunk(2, {"ok": 4}, {})])
