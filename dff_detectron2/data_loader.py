"""Training data: ImageNet VID and DET mini-batches mixed 2 : 1 (Zhu et al., CVPR 2017, Sec. 5.1).

"Each mini-batch samples images from either ImageNet VID or ImageNet DET datasets, at 2 : 1
ratio." Every mini-batch of a worker (the per-GPU batch) is drawn from one source, the source
chosen at random with the configured ratio; within a source, images are drawn epoch by epoch
in a fresh random order.
"""

import itertools

import numpy as np
from detectron2.data import MetadataCatalog, get_detection_dataset_dicts
from detectron2.data.build import worker_init_reset_seed
from detectron2.utils import comm
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

__all__ = ["MixedSourceBatches", "build_dff_train_loader"]

SOURCES = ("VID", "DET")


class MixedSourceBatches(IterableDataset):
    """Endless mini-batches, each from one source, sources drawn at a fixed ratio.

    Args:
        records (list[dict]): dataset dicts with a ``source`` key ("VID" or "DET").
        mapper (Callable): dataset dict -> model input.
        batch_size (int): images per mini-batch (per GPU).
        ratio (dict[str, float]): relative frequency of each source, e.g. {"VID": 2, "DET": 1}.
        seed (int): random seed; each rank and loader worker derives its own stream.
    """

    def __init__(self, records, mapper, batch_size: int, ratio: dict, seed: int = 0):
        self.records = records
        self.mapper = mapper
        self.batch_size = batch_size
        self.seed = seed
        self.sources = [s for s in SOURCES if any(r.get("source", "VID") == s for r in records)]
        self.indices = {
            s: np.array([i for i, r in enumerate(records) if r.get("source", "VID") == s])
            for s in self.sources
        }
        weights = np.array([float(ratio.get(s, 0.0)) for s in self.sources])
        if not self.sources or weights.sum() <= 0:
            raise ValueError(f"no training images from a source with a positive ratio {ratio}")
        self.probabilities = weights / weights.sum()

    def _stream(self, rng: np.random.Generator, source: str):
        """Indices of one source, a fresh permutation per epoch."""
        while True:
            yield from rng.permutation(self.indices[source]).tolist()

    def __iter__(self):
        worker = get_worker_info()
        worker_id = 0 if worker is None else worker.id
        rng = np.random.default_rng([self.seed, comm.get_rank(), worker_id])
        streams = {s: self._stream(rng, s) for s in self.sources}
        while True:
            source = self.sources[rng.choice(len(self.sources), p=self.probabilities)]
            indices = itertools.islice(streams[source], self.batch_size)
            yield [self.mapper(self.records[i]) for i in indices]


def _as_batch(batch):
    return batch


def build_dff_train_loader(cfg, mapper) -> DataLoader:
    """The training loader of Sec. 5.1 for ``cfg.DATASETS.TRAIN`` (VID and DET names).

    Args:
        cfg (CfgNode): config (``SOLVER.IMS_PER_BATCH``, ``DATALOADER.*``,
            ``MODEL.DFF.DATA.VID_DET_RATIO``, ``SEED``).
        mapper (Callable): e.g. ``DFFPairDatasetMapper(cfg, True)``.

    Returns:
        DataLoader: yields lists of ``IMS_PER_BATCH / world_size`` mapped dicts.
    """
    world_size = comm.get_world_size()
    if cfg.SOLVER.IMS_PER_BATCH % world_size:
        raise ValueError(
            f"SOLVER.IMS_PER_BATCH={cfg.SOLVER.IMS_PER_BATCH} is not divisible by the "
            f"{world_size} processes"
        )
    for name in cfg.DATASETS.TRAIN:
        classes = MetadataCatalog.get(name).get("thing_classes", None)
        if classes is not None and len(classes) != cfg.MODEL.ROI_HEADS.NUM_CLASSES:
            raise ValueError(
                f"dataset {name} has {len(classes)} classes but MODEL.ROI_HEADS.NUM_CLASSES is "
                f"{cfg.MODEL.ROI_HEADS.NUM_CLASSES}"
            )
    records = get_detection_dataset_dicts(
        cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
    )
    vid, det = cfg.MODEL.DFF.DATA.VID_DET_RATIO
    seed = cfg.SEED if cfg.SEED >= 0 else comm.shared_random_seed()
    dataset = MixedSourceBatches(
        records, mapper, cfg.SOLVER.IMS_PER_BATCH // world_size, {"VID": vid, "DET": det}, seed
    )
    return DataLoader(
        dataset,
        batch_size=None,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        collate_fn=_as_batch,
        worker_init_fn=worker_init_reset_seed,
    )
