"""dff_mmseg.compat: mmseg imports on mmcv-lite (placeholder for the missing mmcv._ext)."""

import subprocess
import sys
import textwrap


def test_missing_extension_gets_placeholder_and_mmseg_imports():
    code = """
        import mmcv, importlib.util
        missing = importlib.util.find_spec("mmcv._ext") is None
        import dff_mmseg
        from dff_common.compat import applied_shims
        import mmseg.models  # needs mmcv._ext through mmcv.ops
        from mmcv import _ext
        print(missing == ("mmcv._ext" in applied_shims()))
        print(getattr(_ext, "_dff_placeholder", False) == missing)
        print("detectron2._C" in applied_shims())  # the detectron2 plugin's shim is not applied
    """
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "False"]
