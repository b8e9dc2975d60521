#!/usr/bin/env python
"""How far each flow of a detector (its learned F, zero flow, DIS) is from the exact motion on the
synthetic VID snippets, by key distance.

``python tools/flow_error.py --help`` lists the flags (:mod:`analysis_tools.detection_flow_error`).
"""

from analysis_tools.detection_flow_error import main

if __name__ == "__main__":
    main()
