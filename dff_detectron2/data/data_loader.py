"""Data loaders of Deep Feature Flow (Zhu et al., CVPR 2017, Sec. 5.1, Algorithm 1).

Training: ImageNet VID and DET mini-batches mixed 2 : 1. "Each mini-batch samples images from
either ImageNet VID or ImageNet DET datasets, at 2 : 1 ratio." Every mini-batch of a worker (the
per-GPU batch) is drawn from one source, the source chosen at random with the configured ratio;
within a source, images are drawn epoch by epoch in a fresh random order.

A resumed run (:meth:`MixedSourceBatches.start_batch`) continues the same stream of images:
the index draws of the batches already trained on are replayed without reading a frame.

Test: whole videos per process, frames in time order (:class:`VideoInferenceSampler`), so that
Algorithm 1 sees every video from its first frame on whatever the number of processes.
"""

import itertools
from collections import defaultdict

import numpy as np
from detectron2.data import (
    MetadataCatalog,
    build_detection_test_loader,
    get_detection_dataset_dicts,
)
from detectron2.data.build import worker_init_reset_seed
from detectron2.utils import comm
from detectron2.utils.env import seed_all_rng
from torch.utils.data import DataLoader, IterableDataset, Sampler, get_worker_info

__all__ = [
    "MixedSourceBatches",
    "VideoInferenceSampler",
    "build_dff_test_loader",
    "build_dff_train_loader",
]

SOURCES = ("VID", "DET")


class MixedSourceBatches(IterableDataset):
    """Endless mini-batches, each from one source, sources drawn at a fixed ratio.

    Args:
        records (list[dict]): dataset dicts with a ``source`` key ("VID" or "DET").
        mapper (Callable): dataset dict -> model input.
        batch_size (int): images per mini-batch (per GPU).
        ratio (dict[str, float]): relative frequency of each source, e.g. {"VID": 2, "DET": 1}.
        seed (int): random seed; each rank and loader worker derives its own stream.

    Attributes:
        start_batch (int): batches of this process already trained on (a resumed run's
            iteration): iteration starts at the batch that would have come next. The
            DataLoader takes batches from its workers in turn (batch b from worker
            ``b % W``), so worker w of a run resumed at s continues worker ``(s + w) % W``.
            In a worker, the mapper's random draws are seeded per batch, so that they resume
            too; without workers they are the main process's, which the trainer's checkpoint
            restores.
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
        self.start_batch = 0

    def _stream(self, rng: np.random.Generator, source: str):
        """Indices of one source, a fresh permutation per epoch."""
        while True:
            yield from rng.permutation(self.indices[source]).tolist()

    def __iter__(self):
        worker = get_worker_info()
        workers, worker_id = (1, 0) if worker is None else (worker.num_workers, worker.id)
        stream_id = (self.start_batch + worker_id) % workers  # the worker this one continues
        done = (self.start_batch + worker_id) // workers  # batches that worker already gave
        rank = comm.get_rank()
        rng = np.random.default_rng([self.seed, rank, stream_id])
        streams = {s: self._stream(rng, s) for s in self.sources}
        for number in itertools.count():
            source = self.sources[rng.choice(len(self.sources), p=self.probabilities)]
            indices = list(itertools.islice(streams[source], self.batch_size))
            if number < done:
                continue
            if worker is not None:
                sequence = np.random.SeedSequence([self.seed, rank, stream_id, number])
                seed_all_rng(int(sequence.generate_state(1)[0] % 2**31))
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
    records = get_detection_dataset_dicts(
        cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
    )
    for name in cfg.DATASETS.TRAIN:  # after loading: a COCO-VID set's classes come with it
        classes = MetadataCatalog.get(name).get("thing_classes", None)
        if classes is not None and len(classes) != cfg.MODEL.ROI_HEADS.NUM_CLASSES:
            raise ValueError(
                f"dataset {name} has {len(classes)} classes but MODEL.ROI_HEADS.NUM_CLASSES is "
                f"{cfg.MODEL.ROI_HEADS.NUM_CLASSES}"
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


class VideoInferenceSampler(Sampler):
    """Test-time indices of one process: whole videos, each in ``frame_idx`` order.

    detectron2's ``InferenceSampler`` cuts the dataset into contiguous shards of equal size, so
    a video can straddle two processes; the second would start it mid-way with a key frame
    where Algorithm 1 has none, and the result would depend on the number of GPUs. Here the
    videos, in dataset order, are dealt to the processes in contiguous runs of about equal
    frame counts (a video goes to the process that holds its middle frame).

    Args:
        records (list[dict]): dataset dicts with ``video_id`` and ``frame_idx`` (a record
            without ``video_id`` is a video of one frame).
        rank (int, optional): this process. Defaults to ``comm.get_rank()``.
        world_size (int, optional): number of processes. Defaults to ``comm.get_world_size()``.
    """

    def __init__(self, records: list[dict], rank: int | None = None, world_size: int | None = None):
        if not records:
            raise ValueError("VideoInferenceSampler: the test set has no frames")
        rank = comm.get_rank() if rank is None else rank
        world_size = comm.get_world_size() if world_size is None else world_size
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
        videos = defaultdict(list)  # insertion order = dataset order of first frames
        for index, record in enumerate(records):
            videos[record.get("video_id", ("image", index))].append(index)
        total, start, self._indices = len(records), 0, []
        for indices in videos.values():
            owner = min(world_size - 1, (2 * start + len(indices)) * world_size // (2 * total))
            if owner == rank:
                self._indices += sorted(indices, key=lambda i: records[i].get("frame_idx", 0))
            start += len(indices)

    def __iter__(self):
        yield from self._indices

    def __len__(self) -> int:
        return len(self._indices)


def build_dff_test_loader(cfg, dataset_name: str, mapper) -> DataLoader:
    """detectron2's test loader (batch 1) over whole videos per process.

    Args:
        cfg (CfgNode): config (``DATALOADER.NUM_WORKERS``).
        dataset_name (str): a registered dataset.
        mapper (Callable): e.g. ``DFFPairDatasetMapper(cfg, False)``.

    Returns:
        DataLoader: yields lists of one mapped dict, each video's frames in order.
    """
    records = get_detection_dataset_dicts([dataset_name], filter_empty=False)
    return build_detection_test_loader(
        records,
        mapper=mapper,
        sampler=VideoInferenceSampler(records),
        num_workers=cfg.DATALOADER.NUM_WORKERS,
    )
