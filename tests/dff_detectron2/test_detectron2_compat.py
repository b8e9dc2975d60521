"""dff_detectron2.compat: pure-Python detectron2 0.6 imports and runs on the installed stack."""

import subprocess
import sys
import textwrap

import numpy as np
from PIL import Image

from dff_detectron2 import compat


def test_missing_extension_gets_placeholder_and_detectron2_imports(tmp_path):
    code = """
        import detectron2, importlib.util
        missing = importlib.util.find_spec("detectron2._C") is None
        import dff_detectron2
        from dff_common.compat import applied_shims
        import detectron2.layers, detectron2.modeling, detectron2.data  # need _C / Image.LINEAR
        from detectron2 import _C
        from detectron2.utils.collect_env import collect_env_info
        collect_env_info()
        print(missing == ("detectron2._C" in applied_shims()))
        print(getattr(_C, "_dff_placeholder", False) == missing)
        print("mmcv._ext" in applied_shims())  # the mmseg plugin's shim is not applied here
    """
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "False"]


def test_pillow_and_numpy_aliases_mean_what_they_meant():
    compat.apply()
    assert Image.LINEAR == Image.BILINEAR
    assert np.int is int and np.float is float
    assert np.zeros(3, dtype=np.int).dtype == np.dtype(int)
    assert compat.apply() == compat.apply()  # idempotent
