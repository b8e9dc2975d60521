#!/usr/bin/env python
"""Multiply-adds of N_feat, N_task and F of the wrapped detectron2 model-zoo configs, with Eq. 5's
r and Eq. 7's speedup.

``python tools/model_zoo_costs.py --help`` lists the flags (:mod:`analysis_tools.model_zoo_costs`).
"""

from analysis_tools.model_zoo_costs import main

if __name__ == "__main__":
    main()
