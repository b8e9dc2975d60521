#!/usr/bin/env python
"""Table 4 of the paper on the synthetic sets, per task.

    python tools/table4.py seg [--quick] [--zoo] [--work-dir DIR] ...   # mmseg plugin
    python tools/table4.py det [--output DIR] [--size H W] ...          # detectron2 plugin

``python tools/table4.py {seg,det} --help`` lists each task's flags.
"""

import sys

TASKS = {"seg": "analysis_tools.segmentation_table4", "det": "analysis_tools.detection_table4"}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in TASKS:
        raise SystemExit(f"usage: tools/table4.py {{{','.join(TASKS)}}} [flags]\n{__doc__}")
    import importlib

    return importlib.import_module(TASKS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    main()
