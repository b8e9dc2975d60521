"""dff_detectron2.compat: pure-Python detectron2 0.6 imports and runs on the installed stack."""

import subprocess
import sys
import textwrap

import numpy as np
from PIL import Image

from dff_detectron2 import compat


def test_detectron2_imports_first_in_the_project_environment():
    # no dff module imported first: the installed dff_compat.pth applies the shims on the
    # first detectron2 import (a user's own script, the children of detectron2's launch)
    code = """
        import detectron2.layers, detectron2.modeling, detectron2.data  # need _C / Image.LINEAR
        from detectron2 import _C, model_zoo
        from detectron2.utils.collect_env import collect_env_info
        import importlib.machinery, sys, detectron2
        from dff_compat import applied_shims
        collect_env_info()
        built = importlib.machinery.PathFinder.find_spec("detectron2._C", detectron2.__path__)
        print((built is None) == ("detectron2._C" in applied_shims()))
        print(getattr(_C, "_dff_placeholder", False) == (built is None))
        print("mmcv._ext" in applied_shims())  # mmcv's shim waits for an mmcv import
        plugins = ("dff_common", "dff_detectron2", "dff_mmseg")
        print(sorted(m for m in sys.modules if m.split(".")[0] in plugins))
    """
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:4] == ["True", "True", "False", "[]"]


def test_pillow_and_numpy_aliases_mean_what_they_meant():
    compat.apply()
    assert Image.LINEAR == Image.BILINEAR
    assert np.int is int and np.float is float
    assert np.zeros(3, dtype=np.int).dtype == np.dtype(int)
    assert compat.apply() == compat.apply()  # idempotent
