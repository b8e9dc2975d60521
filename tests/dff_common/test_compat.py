"""dff_common.compat: placeholders only where a compiled extension is missing."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from dff_common import compat


def run_python(code: str, tmp_path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_placeholder_op_raises_naming_op_and_fix():
    ext = compat.placeholder_extension("fakefw._C")
    with pytest.raises(compat.MissingExtensionError, match=r"fakefw\._C\.nms_rotated"):
        ext.nms_rotated(1, 2)
    with pytest.raises(compat.MissingExtensionError, match="compiled build"):
        ext.anything()
    with pytest.raises(AttributeError):
        _ = ext.__wrapped__  # dunder lookups (inspect, pickle) must not get a fake op


def test_missing_extension_gets_placeholder_and_framework_imports(tmp_path):
    out = run_python(
        """
        import detectron2, mmcv, importlib.util
        d2_missing = importlib.util.find_spec("detectron2._C") is None
        mm_missing = importlib.util.find_spec("mmcv._ext") is None
        import dff_detectron2, dff_mmseg
        from dff_common import compat
        import detectron2.layers, detectron2.modeling, detectron2.data  # need _C / Image.LINEAR
        import mmseg.models  # needs mmcv._ext through mmcv.ops
        from detectron2 import _C
        from detectron2.utils.collect_env import collect_env_info
        collect_env_info()
        applied = compat.applied_shims()
        print(d2_missing == ("detectron2._C" in applied), mm_missing == ("mmcv._ext" in applied))
        print(getattr(_C, "_dff_placeholder", False) == d2_missing)
        """,
        tmp_path,
    )
    assert out.split() == ["True", "True", "True"]


def test_present_extension_is_left_untouched(tmp_path):
    # Simulate a source build: a package whose compiled `_C` exists on disk, and one already
    # imported; apply() must register nothing for either.
    pkg = tmp_path / "fakefw"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "_C.py").write_text("REAL = True\n")
    bare = tmp_path / "barefw"
    bare.mkdir()
    (bare / "__init__.py").write_text("")
    out = run_python(
        """
        import sys, types
        from dff_common import compat
        print(compat._extension_missing("fakefw._C"), compat._extension_missing("barefw._C"))
        print(compat._extension_missing("notinstalledfw._C"))
        real = types.ModuleType("detectron2._C")
        sys.modules["detectron2._C"] = real
        compat.apply()
        print(sys.modules["detectron2._C"] is real, "detectron2._C" in compat.applied_shims())
        """,
        tmp_path,
    )
    assert out.split() == ["False", "True", "False", "True", "False"]


def test_pillow_and_numpy_aliases_mean_what_they_meant():
    compat.apply()
    assert Image.LINEAR == Image.BILINEAR
    assert np.int is int and np.float is float
    assert np.zeros(3, dtype=np.int).dtype == np.dtype(int)
    assert compat.apply() == compat.applied_shims()  # idempotent
