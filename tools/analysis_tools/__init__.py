"""The project's studies: Table 4, Figure 3, flow error, equivariance, model-zoo costs and the
deploy benchmark, on the synthetic sets, over the public functions of the three packages.

The front ends are the scripts in ``tools/`` (which put this folder's parent on ``sys.path``).
"""
