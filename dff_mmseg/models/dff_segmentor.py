"""The deep feature flow video segmentor (Zhu et al., CVPR 2017, Sec. 3-4, Fig. 2b)."""

from __future__ import annotations

import math

import torch
from mmengine.config import ConfigDict
from mmseg.models import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import (
    ConfigType,
    OptConfigType,
    OptMultiConfig,
    OptSampleList,
    SampleList,
    add_prefix,
)
from torch import Tensor, nn

from dff_common.engine import DFFInferenceEngine
from dff_common.flow_functions import accepted_arguments
from dff_common.norm import call_naming_batchnorm, freeze_batchnorm
from dff_common.propagation import FeaturePropagation
from dff_common.scheduler import build_scheduler, check_interval

__all__ = ["SPLITS", "CascadeHead", "DFFSegmentor", "FeatureNetwork", "TaskNetwork"]

# Where N is cut (the output of that part is propagated): after the backbone, after the neck
# (= after the backbone without a neck), or after the decode head (Table 5's split 0: the
# score maps are propagated).
SPLITS = ("backbone", "neck", "decode_head")
PROTOCOLS = ("pairs", "stream")
PROBE_SIZE = 64  # side of the zero image that measures the propagated levels

Levels = tuple[Tensor | None, ...]


def _levels(x) -> tuple[Tensor, ...]:
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _tensors(x) -> list[Tensor]:
    """The tensors of a head's output (a tensor, or nested lists / tuples / dicts of them)."""
    if isinstance(x, Tensor):
        return [x]
    values = x.values() if isinstance(x, dict) else x
    return [t for value in values for t in _tensors(value)]


class FeatureNetwork(nn.Module):
    """N_feat of a segmentor: images ``(N, 3, H, W)`` -> the propagated levels (a tuple).

    A view on the segmentor's modules (shares their parameters): the backbone, or the part of
    it before its split point (``feature_part()``, Table 5), then the neck and the decode head
    when the split lies after them. Of the resulting levels it returns those at ``levels``
    (the ones N_task reads), None for those in ``skipped``.

    Args:
        levels (tuple[int], optional): indices of the propagated levels among the outputs.
            Defaults to None: all of them.
        skipped (tuple[int]): those of ``levels`` returned as None (levels that only the
            auxiliary heads read, not needed at test time). Defaults to ().
    """

    def __init__(
        self,
        backbone: nn.Module,
        neck: nn.Module | None,
        head: nn.Module | None,
        levels: tuple[int, ...] | None = None,
        skipped: tuple[int, ...] = (),
    ):
        super().__init__()
        self.backbone, self.neck, self.head = backbone, neck, head
        self.levels, self.skipped = levels, skipped

    def forward(self, images: Tensor) -> Levels:
        x = _levels(self.backbone(images))
        if self.neck is not None:
            x = _levels(self.neck(x))
        if self.head is not None:
            x = (self.head(x),)
        if self.levels is None:
            return x
        return tuple(None if i in self.skipped else x[i] for i in self.levels)


class TaskNetwork(nn.Module):
    """N_task of a segmentor: propagated levels -> class scores ``(N, C, h, w)``.

    A view on the segmentor's modules: the layers of the backbone after its split point
    (``task_prefix()``, on the single level of a split backbone), the neck when the split
    lies before it, then the decode head (none when the scores themselves are propagated).
    The propagated levels are put back at their places ``levels`` among ``num_levels`` (None
    at the others, which nothing reads) before.

    Args:
        levels (tuple[int], optional): places of the propagated levels. Defaults to None:
            they are all the levels.
        num_levels (int, optional): number of N_feat's levels, with ``levels``.
    """

    def __init__(
        self,
        prefix: nn.Module | None,
        neck: nn.Module | None,
        head: nn.Module | None,
        levels: tuple[int, ...] | None = None,
        num_levels: int | None = None,
    ):
        super().__init__()
        self.prefix, self.neck, self.head = prefix, neck, head
        self.levels, self.num_levels = levels, num_levels

    def features(self, levels: Levels) -> Levels:
        """The decode head's input: the levels after the task prefix and the neck."""
        if self.levels is not None:
            placed = [None] * self.num_levels
            for index, level in zip(self.levels, levels):
                placed[index] = level
            levels = tuple(placed)
        if self.prefix is not None:
            levels = (self.prefix(levels[0]), *levels[1:])
        return levels if self.neck is None else _levels(self.neck(levels))

    def forward(self, levels: Levels) -> Tensor:
        features = self.features(levels)
        return features[0] if self.head is None else self.head(features)


class CascadeHead(nn.Module):
    """The decode heads of a ``CascadeEncoderDecoder`` (OCRNet, ...) as one head: the first
    on the features, each next one on the features and the previous one's output, as mmseg's
    ``CascadeEncoderDecoder.encode_decode``.

    Args:
        heads (nn.ModuleList): the stages, in order.
    """

    def __init__(self, heads: nn.ModuleList):
        super().__init__()
        self.heads = heads

    def stages(self, levels: Levels) -> list[Tensor]:
        """The output of every stage."""
        outputs = [self.heads[0](levels)]
        for head in self.heads[1:]:
            outputs.append(head(levels, outputs[-1]))
        return outputs

    def forward(self, levels: Levels) -> Tensor:
        return self.stages(levels)[-1]


@MODELS.register_module()
class DFFSegmentor(EncoderDecoder):
    """Semantic segmentation of video frames by deep feature flow, around any image segmentor.

    The image network N is an mmseg ``EncoderDecoder`` (``backbone``, ``neck``,
    ``decode_head``, ``auxiliary_head``, with the same parameter names, so an image checkpoint
    of it is a ``load_from`` for this model) cut at ``split`` into N_feat and N_task (Sec. 3,
    Table 5); key-frame features are propagated to the current frame by F + S + W (Eq. 3),
    level by level for multi-scale features. Only the levels that N_task or an auxiliary head
    reads are propagated (found at build by one probe through them, see
    ``propagated_levels``): a PSPNet head reads the last of the backbone's 4 levels, a
    DeepLabV3+ head the first and the last, a SegFormer head all 4; the scale field has one
    channel per channel of the propagated levels. The paper's network is a ``DilatedResNet``
    backbone (a split point inside it: ``num_task_layers``) and an ``FCNHead`` with no conv
    (one 1x1 conv to the classes). Inputs are ``(N, 3T, H, W)`` stacks of T normalised frames,
    the current frame last (a pair: ``[I_k, I_i]``, see
    :class:`~dff_mmseg.datasets.transforms.LoadVideoFrames`).

    .. code:: text

     loss():    N_feat(I_k) -> propagate() -> N_task -> decode_head.loss_by_feat   (Fig. 2b)
                (auxiliary heads on the propagated N_task features, training only; the
                levels only they read are propagated here only)
     predict(): test_cfg.protocol "pairs": inference() (whole / slide) -> encode_decode()
                test_cfg.protocol "stream": stream_inference(), Algorithm 1 per clip
     encode_decode(): N_feat(I_k) -> propagate() -> N_task -> resize (predict_by_feat)
     propagate(): f_i = W(f_k, F(I_k, I_i), S(I_k, I_i)); f_k itself where i == k (Eq. 3)

    Offset 0 (``key_distance == 0``) is "no propagation": f_i = f_k, the per-frame network
    (Sec. 3). ``flow_net=None`` builds the per-frame network alone (the *Frame* baseline); its
    inputs must all have key distance 0 (train and test it with ``interval=1``).

    Args:
        backbone (dict): the image segmentor's backbone.
        decode_head (dict | list[dict]): its decode head; with ``num_stages``, the list of
            the stages of a ``CascadeEncoderDecoder`` (parameter names ``decode_head.0.*``,
            ``decode_head.1.*``, ... as there, so its checkpoints load).
        flow_net (dict | None): the flow function F, a registered ``FlowNetSimple``,
            ``FlowNetHalf``, ``FlowNetInception`` (scale field of the propagated channels;
            ``init_cfg=dict(type='Pretrained', checkpoint=...)`` for Flying Chairs weights),
            ``DISFlow`` (SFF) or ``ZeroFlow`` (copying); None: no F (Frame).
        neck (dict, optional): its neck.
        auxiliary_head (dict | list, optional): auxiliary heads (training only).
        interval (int): key frame duration length l (stream protocol's fixed scheduler).
            Defaults to 5.
        split (str): where N is cut, one of ``SPLITS``: "neck" (default: the backbone's and
            neck's output is propagated), "backbone" (the neck is in N_task) or
            "decode_head" (the scores are propagated, Table 5's 0 layers in N_task).
        flow_input_scale (float): frames are resized by this for F (Sec. 4). Defaults to 0.5.
        use_scale (bool): apply the scale field S (Eq. 3). Defaults to True.
        fix_image_net (bool): "DFF fix N" (Table 3): N = N_feat + N_task not trained.
        fix_flow_net (bool): "DFF fix F" (Table 3): F not trained.
        train_cfg, test_cfg (dict, optional): ``test_cfg.mode`` "whole" / "slide" as for
            ``EncoderDecoder``; ``test_cfg.protocol`` "pairs" (Sec. 5.2) or "stream"
            (Algorithm 1) and ``test_cfg.scheduler`` (a ``dff_common.scheduler`` dict, default
            fixed with ``interval``).
        data_preprocessor (dict): a ``VideoSegDataPreProcessor``; its ``mean``/``std`` also
            define the flow network's input ``(RGB - mean) / 255``.
        pretrained (str, optional), init_cfg (dict, optional): as for ``EncoderDecoder``.
        num_stages (int, optional): the number of cascaded decode heads, as for
            ``CascadeEncoderDecoder`` (OCRNet: 2). Defaults to None: one decode head.

    Attributes:
        propagated_levels (tuple[int] | None): indices, among N_feat's levels (the outputs of
            the backbone, neck or decode head before ``split``), of the levels propagated:
            those N_task or an auxiliary head reads. None without a flow network.
        auxiliary_levels (tuple[int]): those of them only the auxiliary heads read,
            propagated in training only.
    """

    def __init__(
        self,
        backbone: ConfigType,
        decode_head: ConfigType,
        flow_net: OptConfigType = None,
        neck: OptConfigType = None,
        auxiliary_head: OptConfigType = None,
        interval: int = 5,
        split: str = "neck",
        flow_input_scale: float = 0.5,
        use_scale: bool = True,
        fix_image_net: bool = False,
        fix_flow_net: bool = False,
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        data_preprocessor: OptConfigType = None,
        pretrained: str | None = None,
        init_cfg: OptMultiConfig = None,
        num_stages: int | None = None,
    ):
        self.num_stages = num_stages  # read by _init_decode_head, from super().__init__
        test_cfg = ConfigDict({"mode": "whole", "protocol": "pairs", **(test_cfg or {})})
        super().__init__(
            backbone=backbone,
            decode_head=decode_head,
            neck=neck,
            auxiliary_head=auxiliary_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            pretrained=pretrained,
            init_cfg=init_cfg,
        )
        mean = getattr(self.data_preprocessor, "mean", None)
        std = getattr(self.data_preprocessor, "std", None)
        if mean is None or std is None:
            raise ValueError("DFFSegmentor needs a data_preprocessor with mean and std")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if self.test_cfg["protocol"] not in PROTOCOLS:
            raise ValueError(
                f"test_cfg.protocol must be one of {PROTOCOLS}, got {self.test_cfg['protocol']!r}"
            )
        if split == "decode_head" and self.with_auxiliary_head:
            raise ValueError("split='decode_head' propagates scores: auxiliary heads have no input")
        self.interval = check_interval(interval, "interval")
        self.split = split
        self.propagation = None
        self.propagated_levels, self.auxiliary_levels, self.num_levels = None, (), None
        self.fix_image_net = fix_image_net
        if flow_net is not None:
            level_channels = self._probe_levels()
            flow = self._build_flow_function(flow_net, sum(level_channels), mean.flatten().tolist())
            learned = any(p.requires_grad for p in flow.parameters())
            # statistics of a BN flow net stay those of its pre-training (mini-batches of 1-2)
            self.propagation = FeaturePropagation(
                freeze_batchnorm(flow),
                flow_input_scale=flow_input_scale,
                image_std=std.flatten().tolist(),
                use_scale=use_scale and learned,
                level_channels=level_channels,
            )
            if fix_flow_net:
                flow.requires_grad_(False)
        if fix_image_net:
            for module in self._image_net_modules():
                module.requires_grad_(False)

    @staticmethod
    def _build_flow_function(cfg: ConfigType, feat_channels: int, mean: list) -> nn.Module:
        """Build F, giving it those of ``feat_channels`` and ``mean`` that its class takes."""
        cls = MODELS.get(cfg["type"])
        if cls is None:
            raise KeyError(f"flow_net type {cfg['type']!r} is not registered in mmseg's MODELS")
        offered = accepted_arguments(cls, dict(feat_channels=feat_channels, mean=mean))
        return MODELS.build(dict(cfg), default_args=offered)

    def init_weights(self) -> None:
        """mmengine's initialisation, then the flow network's (its ``Pretrained`` weights).

        F's ``init_cfg`` gets ``input_short_side`` (unless it sets one): the shorter side of
        the data preprocessor's ``size`` (the training crop) times ``flow_input_scale``, so
        that F pre-trained on much smaller pairs is reported (``load_flownets``).
        """
        super().init_weights()
        flow = None if self.propagation is None else self.propagation.flow_net
        if not hasattr(flow, "init_weights"):
            return
        size = getattr(self.data_preprocessor, "size", None)
        if size and getattr(flow, "init_cfg", None):
            short_side = math.ceil(min(size) * self.propagation.flow_input_scale)
            flow.init_cfg.setdefault("input_short_side", short_side)
        flow.init_weights()

    def _init_decode_head(self, decode_head: ConfigType | list) -> None:
        """One decode head, or, with ``num_stages``, the cascade of heads (the last one gives
        the scores: ``align_corners``, ``num_classes``, ``out_channels``)."""
        if self.num_stages is None:
            super()._init_decode_head(decode_head)
            return
        if not isinstance(decode_head, (list, tuple)) or len(decode_head) != self.num_stages:
            given = len(decode_head) if isinstance(decode_head, (list, tuple)) else "one"
            raise ValueError(
                f"num_stages={self.num_stages} (a cascade, as CascadeEncoderDecoder) needs a "
                f"list of {self.num_stages} decode_head configs, got {given}"
            )
        self.decode_head = nn.ModuleList(MODELS.build(head) for head in decode_head)
        last = self.decode_head[-1]
        self.align_corners, self.num_classes = last.align_corners, last.num_classes
        self.out_channels = last.out_channels

    @property
    def head(self) -> nn.Module:
        """The decode head, or the cascade of them as one (:class:`CascadeHead`)."""
        return CascadeHead(self.decode_head) if self.num_stages else self.decode_head

    @property
    def final_head(self) -> nn.Module:
        """The decode head that gives the scores (the last stage of a cascade)."""
        return self.decode_head[-1] if self.num_stages else self.decode_head

    def _image_net_modules(self) -> list[nn.Module]:
        names = ("backbone", "neck", "decode_head", "auxiliary_head")
        return [getattr(self, n) for n in names if getattr(self, n, None) is not None]

    def _probe_levels(self) -> list[int]:
        """Find the levels to propagate; returns their channels (the scale field's layout).

        One forward of a small zero image through N_feat, then through N_task and the
        auxiliary heads with gradients to their input levels: a level is read when an output
        depends on it. Sets ``propagated_levels``, ``auxiliary_levels`` and ``num_levels``.
        """
        was_training = self.training
        self.eval()
        with torch.no_grad():
            levels = self.n_feat()(torch.zeros(1, 3, PROBE_SIZE, PROBE_SIZE))
        with torch.enable_grad():
            inputs = tuple(level.detach().requires_grad_() for level in levels)
            task_net = self.n_task()
            read_by_task = self._read_levels(task_net(inputs), inputs)
            heads = self.auxiliary_head if self.with_auxiliary_head else nn.ModuleList()
            heads = heads if isinstance(heads, nn.ModuleList) else [heads]
            features = task_net.features(inputs)
            read = read_by_task.union(*(self._read_levels(h(features), inputs) for h in heads))
        self.train(was_training)
        self.num_levels = len(levels)
        self.propagated_levels = tuple(sorted(read))
        self.auxiliary_levels = tuple(sorted(read - read_by_task))
        return [levels[i].shape[1] for i in self.propagated_levels]

    @staticmethod
    def _read_levels(outputs, inputs: tuple[Tensor, ...]) -> set[int]:
        """Indices of the ``inputs`` that ``outputs`` depend on (through autograd)."""
        total = sum(t.float().sum() for t in _tensors(outputs))
        grads = torch.autograd.grad(total, inputs, allow_unused=True)
        return {i for i, grad in enumerate(grads) if grad is not None}

    # ------------------------------------------------------------------ the sub-networks
    def n_feat(self, auxiliary: bool = False) -> FeatureNetwork:
        """N_feat: images ``(N, 3, H, W)`` -> propagated levels (shares this model's weights).

        Args:
            auxiliary (bool): also the levels only the auxiliary heads read (training);
                otherwise they are None. Defaults to False.
        """
        split_backbone = hasattr(self.backbone, "feature_part")
        part = self.backbone.feature_part() if split_backbone else self.backbone
        neck = self.neck if self.with_neck and self.split != "backbone" else None
        head = self.head if self.split == "decode_head" else None
        skipped = () if auxiliary else self.auxiliary_levels
        return FeatureNetwork(part, neck, head, self.propagated_levels, skipped)

    def n_task(self) -> TaskNetwork:
        """N_task: propagated levels -> scores ``(N, C, h, w)`` (shares this model's weights)."""
        prefix = self.backbone.task_prefix() if hasattr(self.backbone, "task_prefix") else None
        if isinstance(prefix, nn.Identity):
            prefix = None
        neck = self.neck if self.with_neck and self.split == "backbone" else None
        head = None if self.split == "decode_head" else self.head
        return TaskNetwork(prefix, neck, head, self.propagated_levels, self.num_levels)

    @staticmethod
    def split_frames(inputs: Tensor) -> tuple[Tensor, Tensor]:
        """Key frames ``inputs[:, :3]`` and current frames ``inputs[:, -3:]`` of a pair stack."""
        if inputs.dim() != 4 or inputs.shape[1] != 6:
            raise ValueError(
                f"expected (N, 6, H, W) frame pairs [I_k, I_i], got {tuple(inputs.shape)}"
            )
        return inputs[:, :3], inputs[:, 3:]

    @staticmethod
    def _key_distances(inputs: Tensor, batch_img_metas: list[dict] | None) -> Tensor:
        """``(N,)`` long key distances i - k from the samples' metainfo."""
        if batch_img_metas is None:
            raise ValueError("DFFSegmentor needs data samples with 'key_distance' metainfo")
        distances = [meta.get("key_distance") for meta in batch_img_metas]
        if any(d is None or d < 0 for d in distances):
            raise ValueError(f"every sample needs a key_distance >= 0, got {distances}")
        return torch.tensor(distances, device=inputs.device)

    def propagate(self, f_key, key: Tensor, cur: Tensor, distances: Tensor):
        """f_i = W(f_k, F(I_k, I_i), S(I_k, I_i)) per level; f_k itself where i == k."""
        same_frame = distances == 0
        if self.propagation is None:
            if not same_frame.all():
                raise ValueError(
                    f"the per-frame model (flow_net=None) got key distances {distances.tolist()}:"
                    " use interval=1 for it"
                )
            return f_key
        return self.propagation(f_key, key, cur, same_frame=same_frame)

    def current_features(
        self, inputs: Tensor, batch_img_metas: list[dict] | None, auxiliary: bool = False
    ):
        """The propagated levels f_i of the current frames of ``(N, 6, H, W)`` pairs (with
        those of the auxiliary heads if ``auxiliary``); of ``(N, 3, H, W)`` single frames,
        N_feat's own (each frame its own key frame: the image model, e.g. for
        ``mmseg.apis.inference_model``)."""
        if inputs.dim() == 4 and inputs.shape[1] == 3:
            return self.n_feat(auxiliary)(inputs)
        key, cur = self.split_frames(inputs)
        distances = self._key_distances(inputs, batch_img_metas)
        try:
            return self.propagate(self.n_feat(auxiliary)(key), key, cur, distances)
        except ValueError as err:  # a flow field that is not finite: name the frames
            if "NaN or infinite" not in str(err):
                raise
            pairs = ", ".join(
                f"{meta.get('img_path', meta.get('video_id'))} (key distance "
                f"{meta.get('key_distance')})"
                for meta in batch_img_metas
            )
            raise ValueError(
                f"{err}, in the batch of current frames {pairs}: the flow network's weights "
                "or these frames are not finite"
            ) from err

    def _forward(self, inputs: Tensor, data_samples: OptSampleList = None) -> Tensor:
        """Scores ``(N, C, h, w)`` of the current frames of ``(N, 6, H, W)`` pairs."""
        metas = None if data_samples is None else [s.metainfo for s in data_samples]
        return self.n_task()(self.current_features(inputs, metas))

    def encode_decode(self, inputs: Tensor, batch_img_metas: list[dict]) -> Tensor:
        """Scores of the current frames of pairs, resized to the input (``predict_by_feat``)."""
        scores = self.n_task()(self.current_features(inputs, batch_img_metas))
        return self.final_head.predict_by_feat(scores, batch_img_metas)

    # ------------------------------------------------------------------ train and test
    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Losses of the current frames' results against their labels (Fig. 2b).

        Returns:
            dict: ``decode.loss_*``, ``decode.acc_seg`` and the auxiliary heads' ``aux.*``.
        """
        return call_naming_batchnorm(self, self._loss, inputs, data_samples)

    def _loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        metas = [s.metainfo for s in data_samples]
        levels = self.current_features(inputs, metas, auxiliary=self.with_auxiliary_head)
        task_net = self.n_task()
        features = task_net.features(levels)
        if isinstance(task_net.head, CascadeHead):  # a loss per stage, named as mmseg names them
            losses = {}
            for i, (head, out) in enumerate(zip(self.decode_head, task_net.head.stages(features))):
                losses.update(add_prefix(head.loss_by_feat(out, data_samples), f"decode_{i}"))
        else:
            scores = features[0] if task_net.head is None else task_net.head(features)
            losses = add_prefix(self.decode_head.loss_by_feat(scores, data_samples), "decode")
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(features, data_samples))
        return losses

    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        """Segment the current frame of each input (a pair, or a clip with the stream protocol).

        Returns:
            list[SegDataSample]: with ``pred_sem_seg`` and ``seg_logits`` at the original size;
            with the stream protocol ``key_distance`` is set to the frame's distance to its key
            frame.
        """
        if data_samples is None:
            raise ValueError("DFFSegmentor.predict needs data samples (key distances, sizes)")
        metas = [s.metainfo for s in data_samples]
        if self.test_cfg["protocol"] == "stream":
            logits = self.stream_inference(inputs, data_samples)
        else:
            logits = self.inference(inputs, metas)
        return self.postprocess_result(logits, data_samples)

    def stream_inference(self, inputs: Tensor, data_samples: SampleList) -> Tensor:
        """Algorithm 1 through each ``(3T, H, W)`` clip; scores of its last frame.

        Each input is one video (frames from its first); the key frames are chosen by the
        scheduler of ``test_cfg`` (default: fixed, every ``interval`` frames from frame 0).

        Returns:
            Tensor: ``(N, C, H, W)`` scores of the last frames, resized to the input.
        """
        if inputs.shape[1] % 3:
            raise ValueError(f"expected (N, 3T, H, W) clips, got {tuple(inputs.shape)}")
        num_frames = inputs.shape[1] // 3
        video_ids = [s.metainfo.get("video_id", j) for j, s in enumerate(data_samples)]
        n_feat, n_task = self.n_feat(), self.n_task()
        if self.propagation is None:  # the per-frame network: every frame is a key frame
            scores, key_indices = n_task(n_feat(inputs[:, -3:])), None
        else:
            scheduler = build_scheduler(
                dict(self.test_cfg.get("scheduler", dict(type="fixed", interval=self.interval)))
            )
            engine = DFFInferenceEngine(n_feat, lambda f, _: n_task(f), self.propagation, scheduler)
            for t in range(num_frames):
                out = engine.step(inputs[:, 3 * t : 3 * t + 3], video_ids, [t] * len(video_ids))
            scores, key_indices = out.results, out.key_indices
        last = num_frames - 1
        for j, sample in enumerate(data_samples):
            sample.set_metainfo(dict(key_distance=last - (key_indices[j] if key_indices else last)))
        return self.final_head.predict_by_feat(scores, [s.metainfo for s in data_samples])

    def train(self, mode: bool = True) -> DFFSegmentor:
        """Training mode, with a fixed N's BatchNorm layers in eval mode ("DFF fix N")."""
        super().train(mode)
        if self.fix_image_net:
            for module in self._image_net_modules():
                for m in module.modules():
                    if isinstance(m, nn.modules.batchnorm._BatchNorm):
                        m.eval()
        return self
