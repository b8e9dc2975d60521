"""dff_mmseg.compat: mmseg imports on mmcv-lite (placeholder for the missing mmcv._ext)."""

import subprocess
import sys
import textwrap


def test_mmseg_imports_first_in_the_project_environment():
    # no dff module imported first: the installed dff_compat.pth provides mmcv._ext's placeholder
    code = """
        import mmseg.models  # needs mmcv._ext through mmcv.ops
        from mmcv import _ext
        import importlib.machinery, sys, mmcv
        from dff_compat import applied_shims
        built = importlib.machinery.PathFinder.find_spec("mmcv._ext", mmcv.__path__)
        print((built is None) == ("mmcv._ext" in applied_shims()))
        print(getattr(_ext, "_dff_placeholder", False) == (built is None))
        print("detectron2._C" in applied_shims())  # the detectron2 shims wait for its import
        plugins = ("dff_common", "dff_detectron2", "dff_mmseg")
        print(sorted(m for m in sys.modules if m.split(".")[0] in plugins))
    """
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:4] == ["True", "True", "False", "[]"]
