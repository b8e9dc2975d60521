"""The deep feature flow video segmentor (Zhu et al., CVPR 2017, Sec. 3-4, Fig. 2b)."""

from __future__ import annotations

from collections import OrderedDict

import torch
from mmseg.models import BaseSegmentor
from mmseg.models.losses import accuracy
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig, OptSampleList, SampleList
from torch import Tensor, nn

from dff_common.data.pairs import check_interval
from dff_common.engine import DFFInferenceEngine
from dff_common.propagation import FeaturePropagation
from dff_common.scheduler import build_scheduler

from .builders import build_feature_net, build_flow_function


@MODELS.register_module()
class DFFSegmentor(BaseSegmentor):
    """Semantic segmentation of video frames by deep feature flow.

    The image network N (a dilated ResNet, ``conv_feat`` to 1024 channels, a 1x1 conv to C
    classes) is split into N_feat and N_task (Table 5, ``num_task_layers``); key-frame
    features are propagated to the current frame by F + S + W (Eq. 3). Inputs are
    ``(N, 3T, H, W)`` stacks of T normalised frames, the current frame I_i last (a pair:
    ``[I_k, I_i]``, see :class:`~dff_mmseg.datasets.transforms.LoadVideoFrames`).

    .. code:: text

     loss():    encode_decode() -> loss_decode(logits, gt of I_i)              (Fig. 2b)
     predict(): test_cfg.mode == "pairs":  encode_decode() -> postprocess_result()
                test_cfg.mode == "stream": stream_inference() -> postprocess_result()
     encode_decode(): split_frames() -> extract_feat(I_k) -> propagate() -> decode() -> resize
     extract_feat(): N_feat(I_k) = f_k
     propagate():    propagation(f_k, I_k, I_i, same_frame=(i == k)) = f_i     (Eq. 3)
     decode():       N_task(f_i) = y_i, (N, C, h, w) scores at stride 16
     stream_inference(): DFFInferenceEngine(N_feat, N_task, propagation, scheduler).step()
                         per frame of the clip                                  (Algorithm 1)
     _forward(): encode_decode() without the resize

    Offset 0 (``key_distance == 0``) is "no propagation": f_i = f_k, the per-frame network
    (Sec. 3). ``flow_net=None`` builds the per-frame network alone (the *Frame* baseline); its
    inputs must all have key distance 0 (train and test it with ``interval=1``).

    Args:
        feature_net (dict): kwargs of :func:`~dff_mmseg.models.builders.build_feature_net`
            (``depth``, ``out_channels``, ``frozen_stages``, ``norm``, ``pretrained``).
        flow_net (dict | None): kwargs of :func:`~dff_mmseg.models.builders.
            build_flow_function` (``name``: "flownet", "flownet_half", "flownet_inception",
            "dis" (SFF) or "zero" (copying); ``checkpoint``, ``norm``, ...). None: no F.
        num_classes (int): C, number of classes. Defaults to 19 (Cityscapes train ids).
        interval (int): key frame duration length l (stream mode's fixed scheduler).
            Defaults to 5.
        num_task_layers (int): learnable layers in N_task, Table 5: 0 (scores propagated),
            1 (default), 5, 12 or 21.
        flow_input_scale (float): frames are resized by this for F (Sec. 4). Defaults to 0.5.
        use_scale (bool): apply the scale field S (Eq. 3). Defaults to True.
        fix_feature_net (bool): "DFF fix N" (Table 3): N = N_feat + N_task not trained.
        fix_flow_net (bool): "DFF fix F" (Table 3): F not trained.
        loss_decode (dict, optional): mmseg loss on the upsampled scores. Defaults to
            cross-entropy averaged over the non-ignored pixels.
        ignore_index (int): label ignored by the loss. Defaults to 255.
        align_corners (bool): of the score upsampling. Defaults to False.
        test_cfg (dict, optional): ``mode`` ("pairs" or "stream") and ``scheduler`` (a
            ``dff_common.scheduler.build_scheduler`` dict, default fixed with ``interval``).
        data_preprocessor (dict, optional): a ``VideoSegDataPreProcessor`` config; its
            ``mean``/``std`` also define the flow network's input ``(RGB - mean) / 255``.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(
        self,
        feature_net: ConfigType,
        flow_net: OptConfigType,
        num_classes: int = 19,
        interval: int = 5,
        num_task_layers: int = 1,
        flow_input_scale: float = 0.5,
        use_scale: bool = True,
        fix_feature_net: bool = False,
        fix_flow_net: bool = False,
        loss_decode: OptConfigType = None,
        ignore_index: int = 255,
        align_corners: bool = False,
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        data_preprocessor: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        mean = getattr(self.data_preprocessor, "mean", None)
        std = getattr(self.data_preprocessor, "std", None)
        if mean is None or std is None:
            raise ValueError("DFFSegmentor needs a data_preprocessor with mean and std")
        if num_task_layers not in (0, 1, 5, 12, 21):
            raise ValueError(f"num_task_layers must be 0, 1, 5, 12 or 21, got {num_task_layers}")
        self.num_classes = num_classes
        self.interval = check_interval(interval, "interval")
        self.num_task_layers = num_task_layers
        self.ignore_index = ignore_index
        self.align_corners = align_corners
        self.test_cfg = dict(test_cfg or {})
        self.test_mode = self.test_cfg.get("mode", "pairs")
        if self.test_mode not in ("pairs", "stream"):
            raise ValueError(f"test_cfg.mode must be 'pairs' or 'stream', got {self.test_mode!r}")
        self.feature_net = build_feature_net(
            num_task_layers=max(num_task_layers, 1), **dict(feature_net)
        )
        self.conv_seg = nn.Conv2d(self.feature_net.out_channels, num_classes, 1)
        nn.init.normal_(self.conv_seg.weight, std=0.01)
        nn.init.zeros_(self.conv_seg.bias)
        propagated = num_classes if num_task_layers == 0 else self.feature_net.channels_at_split
        self.propagation = None
        if flow_net is not None:
            flow_cfg = dict(flow_net)
            flow = build_flow_function(
                feat_channels=propagated, mean=mean.flatten().tolist(), **flow_cfg
            )
            learned = any(p.requires_grad for p in flow.parameters())
            self.propagation = FeaturePropagation(
                flow,
                flow_input_scale=flow_input_scale,
                image_std=std.flatten().tolist(),
                use_scale=use_scale and learned,
            )
            if fix_flow_net:
                flow.requires_grad_(False)
        if fix_feature_net:
            self.feature_net.requires_grad_(False)
            self.conv_seg.requires_grad_(False)
        self.fix_feature_net = fix_feature_net
        self.loss_decode = MODELS.build(
            loss_decode or dict(type="CrossEntropyLoss", avg_non_ignore=True, loss_weight=1.0)
        )

    # ------------------------------------------------------------------ the sub-networks
    def n_feat(self) -> nn.Module:
        """N_feat: images ``(N, 3, H, W)`` -> propagated maps (shares this model's weights)."""
        part = self.feature_net.feature_part()
        return nn.Sequential(part, self.conv_seg) if self.num_task_layers == 0 else part

    def n_task(self) -> nn.Module:
        """N_task: propagated maps -> scores ``(N, C, h, w)`` (shares this model's weights)."""
        if self.num_task_layers == 0:
            return nn.Identity()
        return nn.Sequential(OrderedDict(prefix=self.feature_net.task_prefix(), head=self.conv_seg))

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """f_k = N_feat(I_k) for ``(N, 3, H, W)`` key frames."""
        return self.n_feat()(inputs)

    @staticmethod
    def split_frames(inputs: Tensor) -> tuple[Tensor, Tensor]:
        """Key frames ``inputs[:, :3]`` and current frames ``inputs[:, -3:]`` of a pair stack."""
        if inputs.dim() != 4 or inputs.shape[1] != 6:
            raise ValueError(
                f"expected (N, 6, H, W) frame pairs [I_k, I_i], got {tuple(inputs.shape)}"
            )
        return inputs[:, :3], inputs[:, 3:]

    def _key_distances(self, inputs: Tensor, data_samples: OptSampleList) -> Tensor:
        """``(N,)`` long key distances i - k from the samples' metainfo."""
        if data_samples is None:
            raise ValueError("DFFSegmentor needs data_samples with 'key_distance' metainfo")
        distances = [s.metainfo.get("key_distance") for s in data_samples]
        if any(d is None or d < 0 for d in distances):
            raise ValueError(f"every sample needs a key_distance >= 0, got {distances}")
        return torch.tensor(distances, device=inputs.device)

    def propagate(self, f_key: Tensor, key: Tensor, cur: Tensor, distances: Tensor) -> Tensor:
        """f_i = W(f_k, F(I_k, I_i), S(I_k, I_i)); f_k itself where ``distances == 0``."""
        same_frame = distances == 0
        if self.propagation is None:
            if not same_frame.all():
                raise ValueError(
                    f"the per-frame model (flow_net=None) got key distances {distances.tolist()}:"
                    " use interval=1 for it"
                )
            return f_key
        return self.propagation(f_key, key, cur, same_frame=same_frame)

    def decode(self, features: Tensor) -> Tensor:
        """y_i = N_task(f_i): ``(N, C, h, w)`` class scores at stride 16."""
        return self.n_task()(features)

    def _forward(self, inputs: Tensor, data_samples: OptSampleList = None) -> Tensor:
        """Scores ``(N, C, h, w)`` of the current frames of ``(N, 6, H, W)`` pairs."""
        key, cur = self.split_frames(inputs)
        distances = self._key_distances(inputs, data_samples)
        return self.decode(self.propagate(self.extract_feat(key), key, cur, distances))

    def encode_decode(self, inputs: Tensor, batch_data_samples: OptSampleList) -> Tensor:
        """Scores ``(N, C, H, W)`` of the current frames, upsampled to the input size."""
        scores = self._forward(inputs, batch_data_samples)
        return resize(scores, inputs.shape[2:], mode="bilinear", align_corners=self.align_corners)

    # ------------------------------------------------------------------ train and test
    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Cross-entropy of the current frame's scores against its label (Fig. 2b).

        Returns:
            dict: ``loss_ce`` and ``acc_seg``.
        """
        logits = self.encode_decode(inputs, data_samples)
        labels = torch.stack([s.gt_sem_seg.data for s in data_samples]).squeeze(1)  # [N, H, W]
        logits = resize(logits, labels.shape[1:], mode="bilinear", align_corners=self.align_corners)
        loss = self.loss_decode(logits, labels, ignore_index=self.ignore_index)
        return dict(loss_ce=loss, acc_seg=accuracy(logits, labels, ignore_index=self.ignore_index))

    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        """Segment the current frame of each input (a pair, or a clip in stream mode).

        Returns:
            list[SegDataSample]: with ``pred_sem_seg`` and ``seg_logits`` at the original size;
            in stream mode ``key_distance`` is set to the frame's distance to its key frame.
        """
        if self.test_mode == "stream":
            logits = self.stream_inference(inputs, data_samples)
        else:
            logits = self.encode_decode(inputs, data_samples)
        return self.postprocess_result(logits, data_samples)

    def stream_inference(self, inputs: Tensor, data_samples: SampleList) -> Tensor:
        """Algorithm 1 through each ``(3T, H, W)`` clip; scores of its last frame.

        Each input is one video (frames from its first); the key frames are chosen by the
        scheduler of ``test_cfg`` (default: fixed, every ``interval`` frames from frame 0).

        Returns:
            Tensor: ``(N, C, H, W)`` scores of the last frames, upsampled to the input size.
        """
        if inputs.shape[1] % 3:
            raise ValueError(f"expected (N, 3T, H, W) clips, got {tuple(inputs.shape)}")
        num_frames = inputs.shape[1] // 3
        video_ids = [s.metainfo.get("video_id", j) for j, s in enumerate(data_samples)]
        if self.propagation is None:  # the per-frame network: every frame is a key frame
            scores, key_indices = self.decode(self.extract_feat(inputs[:, -3:])), None
        else:
            scheduler = build_scheduler(
                dict(self.test_cfg.get("scheduler", dict(type="fixed", interval=self.interval)))
            )
            n_task = self.n_task()
            engine = DFFInferenceEngine(
                self.n_feat(), lambda f, _: n_task(f), self.propagation, scheduler
            )
            for t in range(num_frames):
                out = engine.step(inputs[:, 3 * t : 3 * t + 3], video_ids, [t] * len(video_ids))
            scores, key_indices = out.results, out.key_indices
        for j, sample in enumerate(data_samples):
            last = num_frames - 1
            sample.set_metainfo(dict(key_distance=last - (key_indices[j] if key_indices else last)))
        return resize(scores, inputs.shape[2:], mode="bilinear", align_corners=self.align_corners)

    def train(self, mode: bool = True) -> DFFSegmentor:
        """Training mode, with the flow net's BatchNorm (and a fixed N's) in eval mode.

        BatchNorm statistics of the pre-trained flow network stay fixed: a mini-batch of one
        or two pairs cannot estimate them (PEERS.md, pitfall 3).
        """
        super().train(mode)
        frozen = [self.propagation] if self.propagation is not None else []
        if self.fix_feature_net:
            frozen.append(self.feature_net)
        for module in frozen:
            for m in module.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self
