"""dff_mmseg.deploy: the segmentor's parts exported and run as the model runs, the val clips and
their mIoU (against an independent count)."""

import numpy as np
import pytest
import torch
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from dff_common.data.cityscapes import list_annotated_frames, read_image, read_label
from dff_common.export import ExportedDFFRunner, export_onnx, export_paths, onnxruntime_path
from dff_common.scheduler import FixedIntervalScheduler
from dff_mmseg.deploy import deploy_parts, miou_score, val_clips

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
H, W = 32, 64
TOLERANCE = 1e-4


def build(flow_net=dict(type="FlowNetHalf")):  # noqa: B006 (read only)
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type="DFFSegmentor",
            backbone=dict(type="DilatedResNet", depth=50, out_channels=8, frozen_stages=0),
            decode_head=dict(
                type="FCNHead",
                in_channels=8,
                in_index=0,
                channels=8,
                num_convs=0,
                concat_input=False,
                dropout_ratio=0.0,
                num_classes=5,
            ),
            flow_net=flow_net,
            data_preprocessor=dict(  # BGR frames in, as the configs
                type="VideoSegDataPreProcessor", mean=MEAN, std=STD, bgr_to_rgb=True, size=(H, W)
            ),
        )
    )
    if model.propagation is not None:  # a non-trivial scale field (its init is exactly 1)
        torch.nn.init.normal_(model.propagation.flow_net.scale_field.weight, std=0.05)
    return model.eval()


def frames(n, seed=1):
    return torch.randn(n, 3, H, W, generator=torch.Generator().manual_seed(seed))


def test_exported_paths_compute_the_models_scores(tmp_path):
    """Key path = the per-frame network; propagation path = the model on a pair (Fig. 2b)."""
    model = build()
    key, cur = frames(2).split(1)
    programs = export_paths(deploy_parts(model), key)
    prop_file = export_onnx(programs[1], tmp_path / "propagation.onnx")  # the key path's in
    with torch.no_grad():  # tests/dff_common/test_export.py
        per_frame = model.decode_head(model.backbone(key))
        sample = SegDataSample(metainfo=dict(key_distance=3))
        pair = model._forward(torch.cat([key, cur], 1), [sample])
    f_key, y_key = programs[0].module()(key)
    torch.testing.assert_close(y_key, per_frame, rtol=0, atol=TOLERANCE)
    _, y_cur = programs[1].module()(f_key, key, cur)
    torch.testing.assert_close(y_cur, pair, rtol=0, atol=TOLERANCE)
    _, y_cur = onnxruntime_path(prop_file)(f_key, key, cur)
    torch.testing.assert_close(y_cur, pair, rtol=0, atol=TOLERANCE)
    # Algorithm 1 over the graphs ends where the model's stream mode ends
    scheduler = FixedIntervalScheduler(model.interval)  # l = 5: frame 2 is propagated from 0
    runner = ExportedDFFRunner(*(p.module() for p in programs), scheduler)
    clip = frames(3, seed=2)
    last = list(runner.run_video(clip))[-1]
    samples = [SegDataSample(metainfo=dict(video_id=0, img_shape=(H, W), ori_shape=(H, W)))]
    model.test_cfg["mode"] = "stream"
    with torch.no_grad():
        stream = model.stream_inference(clip.flatten(0, 1)[None], samples)
    upsampled = torch.nn.functional.interpolate(
        last.result[None], size=(H, W), mode="bilinear", align_corners=False
    )
    assert last.key_index == 0 and samples[0].metainfo["key_distance"] == 2
    torch.testing.assert_close(upsampled, stream, rtol=0, atol=TOLERANCE)


def test_per_frame_model_has_no_parts():
    with pytest.raises(ValueError, match="no propagation"):
        deploy_parts(build(flow_net=None))


def test_val_clips_end_at_the_annotated_frame(synthetic_root):
    model = build()
    clips, labels = val_clips(model, synthetic_root)
    annotated = list_annotated_frames(synthetic_root, "val")
    assert len(clips) == len(labels) == len(annotated) == 2
    assert clips[0].shape == (20, 3, H, W) and labels[0].shape == (H, W)
    image = read_image(annotated[0].frame_path(annotated[0].frame), "bgr")  # mmseg's order
    image = torch.from_numpy(image[..., ::-1].copy()).float()  # the preprocessor's RGB
    expected = (image.permute(2, 0, 1) - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(
        3, 1, 1
    )
    torch.testing.assert_close(clips[0][-1], expected)
    assert np.array_equal(labels[1].numpy(), read_label(annotated[1].label_path))


def reference_miou(predictions, labels, num_classes, ignore=255):
    """mIoU over classes present in a prediction or a label, counted with numpy."""
    inter, union = np.zeros(num_classes), np.zeros(num_classes)
    for prediction, label in zip(predictions, labels):
        valid = label != ignore
        for c in range(num_classes):
            p, t = (prediction == c) & valid, (label == c) & valid
            inter[c] += (p & t).sum()
            union[c] += (p | t).sum()
    present = union > 0
    return 100 * np.mean(inter[present] / union[present])


def test_miou_score_against_a_numpy_count():
    generator = torch.Generator().manual_seed(0)
    labels = [torch.randint(0, 4, (8, 12), generator=generator) for _ in range(2)]
    labels[0][0, :5] = 255  # ignored pixels
    score = miou_score(labels, num_classes=5)
    perfect = [[torch.zeros(5, 8, 12), torch.nn.functional.one_hot(t.clamp(max=4), 5)
                .permute(2, 0, 1).float()] for t in labels]  # fmt: skip
    assert score(perfect) == pytest.approx(100.0)
    # scores at stride 4: the prediction is the upsampled argmax (mmseg's bilinear resize)
    coarse = [[torch.randn(5, 2, 3, generator=generator)] for _ in labels]
    predictions = [
        torch.nn.functional.interpolate(c[-1][None], size=(8, 12), mode="bilinear")[0].argmax(0)
        for c in coarse
    ]
    expected = reference_miou([p.numpy() for p in predictions], [t.numpy() for t in labels], 5)
    assert score(coarse) == pytest.approx(expected)
