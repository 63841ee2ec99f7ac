"""datasets_prep.common: the worker pool."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The parent runs OpenCV's thread pool (large resizes/blurs), then forks workers that use cv2:
# without winding the pool down first, the workers hang forever in their first cv2 call.
_SCRIPT = """
import cv2, numpy as np
from datasets_prep.common import run_parallel

img = np.random.rand(2000, 2000).astype(np.float32)
for _ in range(3):
    cv2.resize(img, (3000, 3000))
    cv2.GaussianBlur(img, (9, 9), 0)
threads = cv2.getNumThreads()

def job(i):
    return float(cv2.resize(np.ones((500, 500), np.float32), (900, 900)).sum())

assert run_parallel(job, list(range(4)), 2, "t") == [810000.0] * 4
assert cv2.getNumThreads() == threads  # the parent's setting is restored
print("ok")
"""


def test_workers_forked_after_the_parent_used_cv2_threads_do_not_hang():
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=150
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("ok")
