# Copyright (c) deepmark_mm contributors. All rights reserved.
"""``interleaved_median_ms``: the benchmark tools' side-by-side timer."""
import time

from deepmark_mm.utils import interleaved_median_ms


def test_rounds_rotate_the_order_and_medians_follow_each_function():
    calls = []

    def runner(name, seconds):
        def run():
            calls.append(name)
            time.sleep(seconds)
        return run

    fast, slow = interleaved_median_ms([runner('a', 0.001), runner('b', 0.02)], repeat=3,
                                       warmup=1)
    # one warm-up round in order, then rounds starting at a, b, a
    assert calls == ['a', 'b', 'a', 'b', 'b', 'a', 'a', 'b']
    assert 1 <= fast < 10 and 20 <= slow < 60
