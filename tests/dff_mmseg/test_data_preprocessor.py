"""VideoSegDataPreProcessor normalises every stacked frame exactly like SegDataPreProcessor."""

import torch
from mmengine.structures import PixelData
from mmseg.models import SegDataPreProcessor
from mmseg.structures import SegDataSample

from dff_mmseg.models import VideoSegDataPreProcessor

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def sample(height, width):
    data_sample = SegDataSample(metainfo=dict(img_shape=(height, width)))
    data_sample.gt_sem_seg = PixelData(data=torch.randint(0, 19, (1, height, width)))
    return data_sample


def test_each_frame_normalised_and_padded_like_a_single_image():
    generator = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (9, 30, 60), dtype=torch.uint8, generator=generator)
    video = VideoSegDataPreProcessor(MEAN, STD, bgr_to_rgb=True, size=(32, 64))
    single = SegDataPreProcessor(MEAN, STD, bgr_to_rgb=True, size=(32, 64))
    label = sample(30, 60)
    out = video(dict(inputs=[frames], data_samples=[label]), training=True)
    assert out["inputs"].shape == (1, 9, 32, 64)
    for t in range(3):
        reference = single(
            dict(inputs=[frames[3 * t : 3 * t + 3]], data_samples=[sample(30, 60)]), True
        )
        torch.testing.assert_close(
            out["inputs"][0, 3 * t : 3 * t + 3], reference["inputs"][0], rtol=0, atol=0
        )
    gt = out["data_samples"][0].gt_sem_seg.data
    assert gt.shape == (1, 32, 64) and (gt[:, 30:] == 255).all() and (gt[:, :, 60:] == 255).all()
    # channel conversion per frame: the first channel of frame 1 is its last input channel
    expected = (frames[5].float() - MEAN[0]) / STD[0]
    torch.testing.assert_close(out["inputs"][0, 3, :30, :60], expected)
    torch.testing.assert_close(video.mean.flatten(), torch.tensor(MEAN))
    torch.testing.assert_close(video.std.flatten(), torch.tensor(STD))


def test_test_mode_stacks_without_padding():
    video = VideoSegDataPreProcessor(MEAN, STD)
    frames = [torch.full((6, 4, 8), 255, dtype=torch.uint8)] * 2
    out = video(dict(inputs=frames, data_samples=[sample(4, 8), sample(4, 8)]), training=False)
    expected = (255 - torch.tensor(MEAN)) / torch.tensor(STD)
    assert out["inputs"].shape == (2, 6, 4, 8)
    torch.testing.assert_close(out["inputs"][1, :, 0, 0], expected.repeat(2))
