#!/usr/bin/env python
"""How far a detector's features N_feat(I_i) are from the key frame's features warped by the exact
motion (the error DFF's warp cannot remove).

``python tools/equivariance.py --help`` lists the flags
(:mod:`analysis_tools.detection_equivariance`).
"""

from analysis_tools.detection_equivariance import main

if __name__ == "__main__":
    main()
